//! `discord`: records as messages to a Discord channel through a webhook
//! (execute webhook), with embeds.
//!
//! - The webhook's id is config; its token is the `webhook_token` secret,
//!   substituted into the URL by the host and bound to Discord's origin.
//! - `content` and embeds come from the config's templates filled with the
//!   record's fields (`wharf_sdk::template`), or from the record itself
//!   (`content` or `text`, `embeds`), so a `jq` mapper can write them.
//!   Mentions in the data never ping anyone (`allowed_mentions` empty).
//! - `?wait=true`, so each post is confirmed saved before the next; the
//!   rate-limit headers are read and an empty bucket waited out before the
//!   next post; a `429` waits `Retry-After`. [`post`]
//! - Discord's refusals of one message (`50035 Invalid Form Body` with the
//!   field's path, `50006` empty) reject that record; an unknown webhook or
//!   a bad token stops the batch.
//!
//! Built from Discord's developer documentation; see
//! `docs/vendors/teams-discord.md`.

mod post;

use serde::Deserialize;
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;

const API: &str = "https://discord.com";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The webhook's id (the number in its URL).
    webhook_id: String,
    /// The message text, with `{field}` or `{a.b}` from the record.
    #[serde(default)]
    content: Option<String>,
    /// Embeds, with the same placeholders in every string.
    #[serde(default)]
    embeds: Option<Value>,
    /// The name and avatar the message shows (default: the webhook's).
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    avatar_url: Option<String>,
    /// Post into this thread of the webhook's channel.
    #[serde(default)]
    thread_id: Option<String>,
    /// API origin (default Discord's).
    #[serde(default)]
    base_url: Option<String>,
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

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#5865f2"/><path d="M18 22c8-5 20-5 28 0l4 20c-4 4-9 5-12 5l-2-4c-3 1-5 1-8 0l-2 4c-3 0-8-1-12-5z" fill="#fff"/><circle cx="26" cy="34" r="3" fill="#5865f2"/><circle cx="38" cy="34" r="3" fill="#5865f2"/></svg>"##;

pub struct Discord;

impl Connector for Discord {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        Spec::new("discord", env!("CARGO_PKG_VERSION"))
            .description(
                "Discord: each record a message through a channel's webhook, with embeds from \
                 templates; Discord's rate-limit headers kept.",
            )
            .role(Role::Destination)
            .config_schema(config_schema())
            .host(api.clone())
            .secret(
                SecretSpec::new("webhook_token")
                    .description("The token part of the webhook's URL (…/webhooks/<id>/<token>)")
                    .host(api),
            )
            .catalog(
                Catalog::new("Discord")
                    .category(Category::Messaging)
                    .icon_svg(ICON)
                    .documentation_url(
                        "https://discord.com/developers/docs/resources/webhook#execute-webhook",
                    )
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        post::check(config)
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        post::push(config, records)
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["webhook_id"],
        "additionalProperties": false,
        "properties": {
            "webhook_id": {"type": "string", "pattern": "^[0-9]{5,25}$", "title": "Webhook id", "description": "The number in the webhook's URL, https://discord.com/api/webhooks/<id>/<token>; the token is the webhook_token secret"},
            "content": {"type": "string", "title": "Message", "description": "Markdown with {field} or {a.b} from the record; default: the record's content or text field"},
            "embeds": {"type": "array", "items": {"type": "object"}, "maxItems": 10, "title": "Embeds", "description": "Embeds with the same placeholders in every string; a string that is only \"{field}\" takes the field's value as it is"},
            "username": {"type": "string", "title": "Name shown", "description": "Default: the webhook's name"},
            "avatar_url": {"type": "string", "format": "uri", "title": "Avatar URL"},
            "thread_id": {"type": "string", "title": "Thread", "description": "Post into this thread of the webhook's channel"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://discord.com"}
        }
    })
}

export_connector!(Discord);
