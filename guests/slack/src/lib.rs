//! `slack`: messages to Slack as a destination, and Slack's Events API as
//! records.
//!
//! - A record becomes one message: `chat.postMessage` with a bot token
//!   (`bot_token` secret; any channel the bot is in), or an incoming
//!   webhook (`webhook_url` secret; its one channel). The text and Block
//!   Kit blocks come from the config's templates filled with the record's
//!   fields, or from the record itself (`text`, `blocks`, `channel`,
//!   `thread_ts`), so a `jq` mapper can write the message. [`message`]
//! - Slack's refusals of one message (`channel_not_found`,
//!   `invalid_blocks`, `no_text`, …) reject that record; a bad token stops
//!   the batch; `429` waits `Retry-After`. [`post`]
//! - Inbound: the Events API's `X-Slack-Signature` (v0, five minutes of
//!   clock skew) is verified by the host, which also answers the
//!   `url_verification` challenge; each `event_callback` becomes a record
//!   of the `events` stream keyed by `event_id`.
//!
//! Built from Slack's documentation and its Web API OpenAPI description
//! (the fake in the tests checks every request against it); see
//! `docs/vendors/slack.md`.

mod message;
mod post;

use serde::Deserialize;
use wharf_sdk::auth::{Encoding, Hash};
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;
use wharf_sdk::webhook::{Handshake, Hmac, Webhook};
use wharf_sdk::{SecretSpec, WebhookScheme};

const API: &str = "https://slack.com";
const HOOKS: &str = "https://hooks.slack.com";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `bot` (chat.postMessage) or `webhook` (an incoming webhook URL).
    #[serde(default)]
    mode: Mode,
    /// The channel a bot posts to (an id like `C1H9RESGL` or `#name`),
    /// unless a record names one.
    #[serde(default)]
    channel: Option<String>,
    /// The message text, with `{field}` (or `{a.b}`) filled from the
    /// record; the notification fallback when there are blocks.
    #[serde(default)]
    text: Option<String>,
    /// Block Kit blocks, with the same placeholders in every string.
    #[serde(default)]
    blocks: Option<Value>,
    /// Post as a reply in this thread (`ts`), with placeholders.
    #[serde(default)]
    thread_ts: Option<String>,
    /// Web API origin (default Slack's).
    #[serde(default)]
    base_url: Option<String>,
    /// Origin of incoming webhooks (default Slack's), which the
    /// `webhook_url` secret may go to.
    #[serde(default)]
    #[allow(dead_code)]
    webhook_origin: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Bot,
    Webhook,
}

impl Config {
    pub fn base(&self) -> &str {
        self.base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#4a154b"/><g stroke-width="8" stroke-linecap="round"><path d="M24 14v22" stroke="#36c5f0"/><path d="M40 28v22" stroke="#2eb67d"/><path d="M14 40h22" stroke="#ecb22e"/><path d="M28 24h22" stroke="#e01e5a"/></g></svg>"##;

pub struct Slack;

impl Connector for Slack {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        let hooks = format!("{{config.webhook_origin|{HOOKS}}}");
        Spec::new("slack", env!("CARGO_PKG_VERSION"))
            .description(
                "Slack: each record a message (chat.postMessage with a bot token, or an incoming \
                 webhook), text and Block Kit from templates; Events API deliveries as records.",
            )
            .role(Role::Destination)
            .role(Role::Source)
            .stream(
                StreamSpec::new("events")
                    .description("Events API deliveries (event_callback): the event with team_id, api_app_id, event_id and event_time; arrives by webhook only")
                    .key_field("event_id"),
            )
            .config_schema(config_schema())
            .host(api.clone())
            .host(hooks.clone())
            .secret(
                SecretSpec::new("bot_token")
                    .description("Bot token (xoxb-…) with chat:write, for the bot mode")
                    .host(api)
                    .optional(),
            )
            .secret(
                SecretSpec::new("webhook_url")
                    .description("Incoming webhook URL (https://hooks.slack.com/services/…), for the webhook mode")
                    .host(hooks)
                    .optional(),
            )
            .webhook(
                Webhook::new(WebhookScheme::Hmac(
                    Hmac::new(
                        "x-slack-signature",
                        Hash::Sha256,
                        Encoding::Hex,
                        "v0:{timestamp}:{body}",
                    )
                    .prefix("v0=")
                    .timestamp("x-slack-request-timestamp", 300),
                ))
                .handshake(Handshake::EchoJson(
                    "url_verification".into(),
                    "challenge".into(),
                )),
            )
            .catalog(
                Catalog::new("Slack")
                    .category(Category::Messaging)
                    .icon_svg(ICON)
                    .documentation_url("https://docs.slack.dev/reference/methods/chat.postMessage")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        post::check(config)
    }

    fn fetch(_config: &Config, stream: &str, _cursor: Option<&str>) -> Result<Page> {
        if stream != "events" {
            return Err(Error::Config(format!("unknown stream `{stream}` (events)")));
        }
        // Events only arrive by webhook; a scheduled run has nothing to read.
        Ok(Page::new(Vec::new(), None, false))
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        post::push(config, records)
    }

    fn receive(_config: &Config, delivery: Delivery) -> Result<Vec<Record>> {
        let body: Value = delivery.json()?;
        if body["type"] != "event_callback" {
            wharf_sdk::log::info(format!(
                "ignored a delivery of type {}",
                body["type"].as_str().unwrap_or("?")
            ));
            return Ok(Vec::new());
        }
        let Some(id) = body["event_id"].as_str() else {
            return Err(Error::fatal("an event_callback without an event_id"));
        };
        let mut data = match body["event"].clone() {
            Value::Object(m) => m,
            _ => return Err(Error::fatal("an event_callback without an event")),
        };
        for field in ["team_id", "api_app_id", "event_id", "event_time"] {
            if let Some(v) = body.get(field) {
                data.insert(field.into(), v.clone());
            }
        }
        Ok(vec![Record::upsert("events", data).with_key(id)])
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "mode": {"type": "string", "enum": ["bot", "webhook"], "default": "bot", "title": "How to post", "description": "bot: chat.postMessage with the bot_token secret, to any channel the bot is in; webhook: the webhook_url secret, to its one channel"},
            "channel": {"type": "string", "title": "Channel", "description": "Channel id (C…) or #name the bot posts to, unless a record has a channel field"},
            "text": {"type": "string", "title": "Message text", "description": "mrkdwn text with {field} or {a.b} from the record, e.g. \"Sync {sync} failed: {error}\"; default: the record's text field"},
            "blocks": {"type": "array", "items": {"type": "object"}, "title": "Block Kit blocks", "description": "Blocks with the same {field} placeholders in every string; a string that is only \"{field}\" takes the field's value as it is"},
            "thread_ts": {"type": "string", "title": "Thread", "description": "Reply in this thread (a message ts), with placeholders"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://slack.com"},
            "webhook_origin": {"type": "string", "format": "uri", "title": "Webhook origin", "description": "Leave empty for https://hooks.slack.com"}
        }
    })
}

export_connector!(Slack);
