//! `teams`: records as Adaptive Cards in a Microsoft Teams channel. One
//! crate, two connectors:
//!
//! - `teams` (the default build): through a Workflows webhook (the "When a
//!   Teams webhook request is received" trigger that replaced Office 365
//!   connectors). The workflow's URL is the `workflow_url` secret; the flow
//!   posts as its owner, to the channel or chat the flow names.
//!   [`workflows`].
//! - `teams-graph` (`--features graph`): through Microsoft Graph,
//!   `POST /teams/{team-id}/channels/{channel-id}/messages`, as the user who
//!   connected the connection (OAuth2 authorization code with PKCE on the
//!   Microsoft identity platform, delegated `ChannelMessage.Send`: Graph's
//!   application permission for posting is for migrations only). The
//!   message names its sender and needs no flow. [`graph`].
//!
//! A spec declares one way to sign in, so the way is chosen when the
//! component is built. Both builds make the same card: the config's
//! `card` template (an Adaptive Card with `{field}` placeholders filled by
//! the connector, as neither Workflows nor Graph evaluate `${…}`
//! bindings), or one built from `title` and `text` templates, or the
//! record's own `card` (or `text`). So both serve as targets of event
//! subscriptions (`notifications` records carry a `text`).
//!
//! Built from Microsoft's documentation of Workflows webhooks, Graph's
//! channel messages and Adaptive Cards; see `docs/vendors/teams-discord.md`.

pub mod graph;
pub mod workflows;

use serde::Deserialize;
use wharf_sdk::prelude::*;
use wharf_sdk::template;

/// Whether this build posts through Microsoft Graph.
pub const GRAPH: bool = cfg!(feature = "graph");

/// The connection config. The schema a build declares lists the fields of
/// its own way in only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A bold first line, with `{field}` from the record.
    #[serde(default)]
    pub(crate) title: Option<String>,
    /// The card's text (Adaptive Cards' markdown subset), with placeholders.
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// A whole Adaptive Card, with placeholders in every string.
    #[serde(default)]
    pub(crate) card: Option<Value>,
    /// Workflows: where the workflow URL may point, if not Power
    /// Automate's hosts (read by the host only).
    #[serde(default)]
    #[allow(dead_code)]
    workflow_origin: Option<String>,
    /// Graph: the team, by its id (the Microsoft 365 group's id).
    #[serde(default)]
    pub(crate) team_id: Option<String>,
    /// Graph: the channel, by its id (`19:…@thread.tacv2`).
    #[serde(default)]
    pub(crate) channel_id: Option<String>,
    /// Graph: the message's subject line, with placeholders.
    #[serde(default)]
    pub(crate) subject: Option<String>,
    /// Graph: the API origin (national clouds have their own).
    #[serde(default)]
    pub(crate) base_url: Option<String>,
    /// Graph: the directory and the identity platform's origin, read by
    /// the host for the OAuth2 endpoints only.
    #[serde(default)]
    #[allow(dead_code)]
    tenant: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    login_url: Option<String>,
}

pub(crate) const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#5059c9"/><rect x="10" y="18" width="30" height="30" rx="4" fill="#7b83eb"/><path d="M18 26h14M25 26v16" stroke="#fff" stroke-width="4"/><circle cx="48" cy="22" r="6" fill="#fff"/></svg>"##;

pub struct Teams;

impl Connector for Teams {
    type Config = Config;

    fn spec() -> Spec {
        if GRAPH {
            graph::spec()
        } else {
            workflows::spec()
        }
    }

    fn check(config: &Config) -> Result<()> {
        if GRAPH {
            graph::check(config)
        } else {
            workflows::check(config)
        }
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        if GRAPH {
            graph::push(config, records)
        } else {
            workflows::push(config, records)
        }
    }
}

/// The Adaptive Card of `record`.
pub(crate) fn card(config: &Config, record: &Record) -> Option<Value> {
    if let Some(t) = &config.card {
        return Some(template::value(t, record, template::plain));
    }
    let title = config
        .title
        .as_ref()
        .map(|t| template::text(t, record, template::plain));
    let text = match &config.text {
        Some(t) => Some(template::text(t, record, template::plain)),
        None if title.is_none() => match record.get("card") {
            Some(card @ Value::Object(_)) => return Some(card.clone()),
            _ => record
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        None => None,
    };
    let mut body = Vec::new();
    if let Some(t) = title.filter(|t| !t.is_empty()) {
        body.push(json!({"type": "TextBlock", "text": t, "weight": "Bolder", "size": "Medium", "wrap": true}));
    }
    if let Some(t) = text.filter(|t| !t.is_empty()) {
        body.push(json!({"type": "TextBlock", "text": t, "wrap": true}));
    }
    (!body.is_empty()).then(|| {
        json!({"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
               "type": "AdaptiveCard", "version": "1.4", "body": body})
    })
}

/// The card fields both builds share.
pub(crate) fn card_properties() -> Map<String, Value> {
    let props = json!({
        "title": {"type": "string", "title": "Title", "description": "A bold first line, with {field} or {a.b} from the record"},
        "text": {"type": "string", "title": "Text", "description": "The card's text, with {field} or {a.b} from the record; default: the record's text field"},
        "card": {"type": "object", "title": "Adaptive Card", "description": "A whole Adaptive Card (version 1.4 is safe), with {field} placeholders in every string; ${…} bindings are evaluated neither by Workflows nor by Graph"}
    });
    match props {
        Value::Object(p) => p,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_from_templates_or_records() {
        let record = Record::from_value("runs", json!({"sync": "xero", "error": "boom"})).unwrap();
        let c: Config =
            serde_json::from_value(json!({"title": "Sync {sync} failed", "text": "{error}"}))
                .unwrap();
        let made = card(&c, &record).unwrap();
        assert_eq!(made["body"][0]["text"], "Sync xero failed");
        assert_eq!(made["body"][1]["text"], "boom");
        assert_eq!(made["version"], "1.4");
        let bare: Config = serde_json::from_value(json!({})).unwrap();
        assert_eq!(card(&bare, &record), None);
        let own =
            Record::from_value("x", json!({"card": {"type": "AdaptiveCard", "body": []}})).unwrap();
        assert_eq!(card(&bare, &own).unwrap()["type"], "AdaptiveCard");
    }

    #[test]
    fn a_notification_is_a_card_of_its_text() {
        let event = Record::from_value(
            "notifications",
            json!({"type": "run.failed", "data": {"sync_name": "xero"}, "text": "Sync xero failed"}),
        )
        .unwrap();
        let bare: Config = serde_json::from_value(json!({})).unwrap();
        let made = card(&bare, &event).unwrap();
        assert_eq!(made["body"][0]["text"], "Sync xero failed");
        assert_eq!(made["type"], "AdaptiveCard");
    }
}

export_connector!(Teams);
