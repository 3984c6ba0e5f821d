//! `mail`: a mailbox as a source, messages and their attachments, read
//! incrementally. One crate, two connectors:
//!
//! - `mail` (the default build): Microsoft 365 / Outlook.com through
//!   Microsoft Graph. A folder's messages by delta query (`@odata.deltaLink`
//!   is the cursor, `@removed` entries become deletes, an expired delta
//!   starts over), file attachments by `/attachments/{id}/$value`, and
//!   Graph's change notifications (the `validationToken` handshake answered
//!   by the host) read back into records. [`graph`], [`graph_delta`],
//!   [`graph_hooks`].
//! - `gmail` (`--features gmail`): Gmail through the Gmail API. A first
//!   pass by `users.messages.list` (label, search query), then
//!   `users.history.list` from the mailbox's `historyId`; an expired
//!   history id starts a full pass again. Attachments by
//!   `users.messages.attachments.get`. [`gmail`], [`gmail_sync`],
//!   [`gmail_message`].
//!
//! A spec declares one OAuth2 grant, and the providers need different
//! scopes and parameters (Microsoft: `offline_access Mail.Read` on the
//! tenant's endpoints; Google: `gmail.readonly` with `access_type=offline`
//! and `prompt=consent`), so the provider is chosen when the component is
//! built, not by config. Both read the same two streams: `messages` and
//! `attachments` (each file attachment a record whose blob is the file).
//!
//! Built from Microsoft Graph's and Gmail's documentation; the fakes in the
//! tests check requests against Graph's documented rules and Gmail's
//! discovery document. See `docs/vendors/mail.md`.

mod attachment;
mod b64;
mod gmail;
mod gmail_message;
mod gmail_sync;
mod graph;
mod graph_delta;
mod graph_hooks;

use serde::Deserialize;
use wharf_sdk::prelude::*;

/// The stream of messages.
pub const MESSAGES: &str = "messages";
/// The stream of file attachments, each with its content as a blob.
pub const ATTACHMENTS: &str = "attachments";

/// Which mail service this build reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Provider {
    /// Microsoft Graph (Outlook, Exchange Online).
    Microsoft,
    /// The Gmail API.
    Google,
}

/// The provider of this build.
pub const PROVIDER: Provider = if cfg!(feature = "gmail") {
    Provider::Google
} else {
    Provider::Microsoft
};

/// How Graph returns message bodies.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// Plain text (`Prefer: outlook.body-content-type="text"`).
    #[default]
    Text,
    /// The HTML as stored.
    Html,
}

/// The connection config. The schema a build declares lists the fields of
/// its provider only.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Messages a request (Graph's `odata.maxpagesize`, Gmail's
    /// `maxResults`); Gmail reads a page's messages (one request each) at
    /// most 20 a call, so a call stays within the host's time.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Attachments larger than this are listed without their content
    /// (0: never download).
    #[serde(default = "default_max_attachment")]
    pub max_attachment_bytes: u64,
    /// Also read inline attachments (images in the body, signatures).
    #[serde(default)]
    pub include_inline: bool,
    /// API origin (Graph's or Gmail's by default).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Graph: the folder, a well-known name (`inbox`, `sentitems`,
    /// `archive`) or a folder id.
    #[serde(default = "default_folder")]
    pub folder: String,
    /// Graph: message bodies as text or HTML.
    #[serde(default)]
    pub body_format: BodyFormat,
    /// Gmail: the label read (`INBOX`, `SENT`, a user label's id); empty:
    /// all mail.
    #[serde(default = "default_label")]
    pub label: String,
    /// Gmail: a search query (`from:billing@example.com has:attachment`)
    /// that limits the first pass.
    #[serde(default)]
    pub query: Option<String>,
    /// Gmail: the first pass also reads spam and trash.
    #[serde(default)]
    pub include_spam_trash: bool,
    /// OAuth2 endpoints; read by the host only.
    #[serde(default)]
    #[allow(dead_code)]
    tenant: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    login_url: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    auth_url: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    token_url: Option<String>,
}

fn default_page_size() -> u32 {
    25
}

fn default_max_attachment() -> u64 {
    10 << 20
}

fn default_folder() -> String {
    "inbox".into()
}

fn default_label() -> String {
    "INBOX".into()
}

impl Config {
    /// The API origin, without a trailing slash.
    pub fn base(&self) -> &str {
        let default = match PROVIDER {
            Provider::Microsoft => graph::API,
            Provider::Google => gmail::API,
        };
        self.base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(default)
            .trim_end_matches('/')
    }

    /// The page size within what both APIs take and one call can read.
    pub fn page(&self) -> u32 {
        self.page_size.clamp(1, 100)
    }
}

/// Fail with the stream names for an unknown stream.
pub fn unknown_stream(stream: &str) -> Error {
    Error::Config(format!(
        "unknown stream `{stream}` ({MESSAGES}, {ATTACHMENTS})"
    ))
}

pub struct Mail;

impl Connector for Mail {
    type Config = Config;

    fn spec() -> Spec {
        match PROVIDER {
            Provider::Microsoft => graph::spec(),
            Provider::Google => gmail::spec(),
        }
    }

    fn check(config: &Config) -> Result<()> {
        match PROVIDER {
            Provider::Microsoft => graph::check(config),
            Provider::Google => gmail::check(config),
        }
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream != MESSAGES && stream != ATTACHMENTS {
            return Err(unknown_stream(stream));
        }
        match PROVIDER {
            Provider::Microsoft => graph_delta::fetch(config, stream, cursor),
            Provider::Google => gmail_sync::fetch(config, stream, cursor),
        }
    }

    fn receive(config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
        match PROVIDER {
            Provider::Microsoft => graph_hooks::receive(config, delivery),
            // Gmail pushes through Cloud Pub/Sub; a delivery only says the
            // mailbox changed, so the connection's syncs run instead.
            Provider::Google => Err(Error::Unsupported),
        }
    }
}

/// The properties both builds' configs share.
pub fn common_properties() -> Map<String, Value> {
    let Value::Object(props) = json!({
        "page_size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25, "title": "Page size", "description": "Messages a request; every message of a page (and its attachments) is read before the next page"},
        "max_attachment_bytes": {"type": "integer", "minimum": 0, "default": 10485760, "title": "Largest attachment", "description": "Attachments larger than this (bytes) are listed without their content; 0 never downloads content"},
        "include_inline": {"type": "boolean", "default": false, "title": "Inline attachments", "description": "Also read inline attachments (images shown in the body, signature logos); Outlook then lists the attachments of every message, as it does not count inline ones as attachments"}
    }) else {
        unreachable!("an object literal")
    };
    props
}

export_connector!(Mail);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_bounds() {
        let c: Config = serde_json::from_value(json!({})).unwrap();
        assert_eq!(c.folder, "inbox");
        assert_eq!(c.label, "INBOX");
        assert_eq!(c.page(), 25);
        assert_eq!(c.max_attachment_bytes, 10 << 20);
        assert_eq!(c.body_format, BodyFormat::Text);
        let c: Config =
            serde_json::from_value(json!({"page_size": 5000, "base_url": "http://127.0.0.1:9/"}))
                .unwrap();
        assert_eq!(c.page(), 100);
        assert_eq!(c.base(), "http://127.0.0.1:9");
        assert!(serde_json::from_value::<Config>(json!({"folders": "x"})).is_err());
    }
}
