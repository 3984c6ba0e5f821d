//! The `teams-graph` build: Adaptive Cards posted to a channel through
//! Microsoft Graph, as the user who connected the connection.
//!
//! - OAuth2 authorization code with PKCE at
//!   `{login_url}/{tenant}/oauth2/v2.0/{authorize,token}` (tenant
//!   `organizations` by default: personal accounts cannot post to
//!   channels). Scopes: `ChannelMessage.Send` (the least privileged
//!   delegated permission of "Send chatMessage in a channel"; the only
//!   application permission, `Teamwork.Migrate.All`, is for migrations:
//!   <https://learn.microsoft.com/graph/api/channel-post-messages>),
//!   `Channel.ReadBasic.All` (the least privileged one of "Get channel",
//!   which the check calls: <https://learn.microsoft.com/graph/api/channel-get>)
//!   and `offline_access` (a refresh token, so the host renews the hour-long
//!   access token without the administrator).
//! - Each record is `POST /v1.0/teams/{team-id}/channels/{channel-id}/messages`
//!   with the card as an attachment the HTML body points at (`<attachment
//!   id="…">`), its `content` the card's JSON as a string, as Graph's
//!   "Send message containing cards" example shows
//!   (<https://learn.microsoft.com/graph/api/chatmessage-post>). `201
//!   Created` answers the message, whose id is logged.
//! - Graph's errors (`{"error": {"code", "message", "innerError"}}`) in its
//!   own words: `400`/`413` reject that record, `401` is renewed by the host
//!   (and called once more), `403` is an authentication error (not a member
//!   of the team, or no consent), `404` a config error (no such team or
//!   channel); `429`, and `503` with `Retry-After`, are waited out, once per
//!   message after the first went out; nothing of a batch is posted twice.
//! - A push stops posting after 20 s and refuses the rest of its batch, so
//!   a large batch at Teams' pace never outlasts the call and is sent again.
//! - The team and channel ids are checked before they go into a path.
//! - Teams' documented limits are the rate budget: 4 requests a second per
//!   app on one team or channel, 3,000 messages a day per app to one
//!   channel (<https://learn.microsoft.com/graph/throttling-limits#microsoft-teams-service-limits>).

use std::time::{Duration, Instant};

use wharf_sdk::OAuth2;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::http::encode;
use wharf_sdk::prelude::*;
use wharf_sdk::rest::ErrorMap;
use wharf_sdk::template;

use crate::{Config, ICON, card, card_properties};

/// Graph's origin.
pub const API: &str = "https://graph.microsoft.com";
/// The identity platform's origin (national clouds have their own).
pub const LOGIN: &str = "https://login.microsoftonline.com";
/// The attachment type of an Adaptive Card.
pub const ADAPTIVE: &str = "application/vnd.microsoft.card.adaptive";

/// The most a push waits for throttling in all, within the call's 30 s.
const MAX_WAIT_SECS: u32 = 12;
/// How long a push posts before it refuses the rest of its batch: a call
/// may last 30 s, and at 4 requests a second (the rate budget, waited out
/// by the host) a large batch would outlast it, fail, and be sent again
/// whole, posting its first messages twice.
const MAX_POSTING_SECS: u64 = 20;
/// A `429` without `Retry-After`: Graph asks for a backoff of its own.
const DEFAULT_WAIT_SECS: u32 = 5;
/// A team id: a GUID.
const GUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// The `teams-graph` build's spec.
pub fn spec() -> Spec {
    let api = format!("{{config.base_url|{API}}}");
    let login = format!("{{config.login_url|{LOGIN}}}/{{config.tenant|organizations}}/oauth2/v2.0");
    Spec::new("teams-graph", env!("CARGO_PKG_VERSION"))
        .description(
            "Microsoft Teams through Microsoft Graph: each record an Adaptive Card posted to a \
             channel as the connected user, filled from templates.",
        )
        .role(Role::Destination)
        .config_schema(config_schema())
        .host(api.clone())
        .oauth2(
            OAuth2::authorization_code(format!("{login}/authorize"), format!("{login}/token"))
                .scope("offline_access")
                .scope("ChannelMessage.Send")
                .scope("Channel.ReadBasic.All"),
        )
        // Per app: 4 requests a second on one team or channel, 3,000
        // messages a day to one channel. A connection is one channel, so
        // its budget is the channel's (other connections of the same app
        // on that channel share Graph's count, not this one).
        .rate_budget(RateBudget::new(api).per(4, 1).daily(3_000))
        .catalog(
            Catalog::new("Microsoft Teams (Graph)")
                .category(Category::Messaging)
                .icon_svg(ICON)
                .documentation_url("https://learn.microsoft.com/graph/api/channel-post-messages")
                .publisher("Wharf"),
        )
}

fn config_schema() -> Value {
    let mut props = card_properties();
    let own = json!({
        "team_id": {"type": "string", "pattern": GUID_PATTERN, "title": "Team id", "description": "The team's id (its Microsoft 365 group's id): groupId=… in the team's or channel's link"},
        "channel_id": {"type": "string", "minLength": 4, "title": "Channel id", "description": "The channel's id, 19:…@thread.tacv2, from the channel's link (Get link to channel; URL-encoded is fine)"},
        "subject": {"type": "string", "title": "Subject", "description": "The message's subject line, with {field} or {a.b} from the record; none by default"},
        "tenant": {"type": "string", "pattern": "^[A-Za-z0-9.-]+$", "default": "organizations", "title": "Tenant", "description": "organizations (any work or school account), or the tenant's id or domain; personal accounts cannot post to channels"},
        "base_url": {"type": "string", "format": "uri", "title": "Graph URL", "description": "Leave empty for https://graph.microsoft.com (national clouds: https://graph.microsoft.us, https://dod-graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn)"},
        "login_url": {"type": "string", "format": "uri", "title": "Sign-in URL", "description": "Leave empty for https://login.microsoftonline.com"}
    });
    if let Value::Object(own) = own {
        props.extend(own);
    }
    json!({"type": "object", "additionalProperties": false, "required": ["team_id", "channel_id"], "properties": props})
}

/// The API origin, without a trailing slash.
fn base(config: &Config) -> &str {
    config
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(API)
        .trim_end_matches('/')
}

/// At most 60 characters of a config value, for messages.
fn clip(text: &str) -> String {
    text.chars().take(60).collect()
}

fn is_guid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// `19:{letters, digits, - _ .}@thread.{tacv2, skype, v2…}`: the shapes of
/// channel ids, with nothing that could change the path they go into.
fn is_channel_id(id: &str) -> bool {
    let Some((local, kind)) = id
        .strip_prefix("19:")
        .and_then(|r| r.rsplit_once("@thread."))
    else {
        return false;
    };
    id.len() <= 200
        && !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A config value that is there and not blank.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The config's team and channel ids, checked. A channel id copied from a
/// link comes URL-encoded (`19%3a…%40thread.tacv2`): it is decoded first.
pub fn ids(config: &Config) -> Result<(String, String)> {
    let team = given(&config.team_id).ok_or_else(|| {
        Error::Config("`team_id` is required: the team's id (groupId=… in the team's link)".into())
    })?;
    if !is_guid(team) {
        return Err(Error::Config(format!(
            "`team_id` `{}` is not a team id: a GUID such as fbe2bf47-16c8-47cf-b4a5-4b9b187c508b (groupId=… in the team's link)",
            clip(team)
        )));
    }
    let channel = given(&config.channel_id).ok_or_else(|| {
        Error::Config("`channel_id` is required: the channel's 19:…@thread.tacv2 id".into())
    })?;
    let channel = channel
        .replace("%3A", ":")
        .replace("%3a", ":")
        .replace("%40", "@");
    if !is_channel_id(&channel) {
        return Err(Error::Config(format!(
            "`channel_id` `{}` is not a channel id: 19:…@thread.tacv2, as in the channel's link",
            clip(&channel)
        )));
    }
    Ok((team.to_string(), channel))
}

/// `{base}/v1.0/teams/{team}/channels/{channel}`.
fn channel_url(config: &Config, team: &str, channel: &str) -> String {
    format!(
        "{}/v1.0/teams/{}/channels/{}",
        base(config),
        encode(team),
        encode(channel)
    )
}

/// Statuses as Graph means them: a 401 is an expired token (the host
/// renews it and calls again), a 404 a team or channel that is not there.
fn errors() -> ErrorMap {
    ErrorMap::new()
        .renewable(true)
        .config_on(404)
        .decoder(message_of)
}

/// Graph's error body: `{"error": {"code": "…", "message": "…"}}`.
pub fn message_of(body: &Value) -> Option<String> {
    let e = &body["error"];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c.to_string()),
        (None, Some(m)) => Some(m.to_string()),
        (None, None) => None,
    }
}

/// The error a refusal means, in Graph's words with what to do.
fn refusal(response: Response) -> Error {
    let status = response.status;
    match errors().check(response) {
        Ok(r) => Error::Fatal(format!("Graph answered HTTP {}", r.status)),
        Err(Error::Auth(m)) if status == 403 => Error::Auth(format!(
            "{m} (the connected user must be a member of the team and the channel, and have \
             consented ChannelMessage.Send and Channel.ReadBasic.All)"
        )),
        Err(Error::Config(m)) => Error::Config(format!(
            "{m} (no such team or channel for the connected user: team_id is the team's group \
             id, channel_id the channel's 19:…@thread.tacv2 id)"
        )),
        Err(e) => e,
    }
}

/// The channel exists, the connected user sees it, and it takes messages:
/// one `GET` of the channel, which posts nothing.
pub fn check(config: &Config) -> Result<()> {
    let (team, channel) = ids(config)?;
    let response = Request::get(channel_url(config, &team, &channel))
        .query("$select", "id,displayName,membershipType,isArchived")
        .header("Accept", "application/json")
        .oauth_bearer()
        .send()?;
    if !response.is_success() {
        return Err(refusal(response));
    }
    let found: Value = response.json()?;
    let name = found["displayName"].as_str().unwrap_or("?");
    if found["isArchived"] == Value::Bool(true) {
        return Err(Error::Config(format!(
            "the channel {name} is archived: Teams takes no new messages in it"
        )));
    }
    wharf_sdk::log::info(format!(
        "posting to the channel {name} ({}) as the connected user",
        found["membershipType"].as_str().unwrap_or("standard")
    ));
    if config.card.is_none() && config.text.is_none() && config.title.is_none() {
        wharf_sdk::log::info(
            "no card, title or text template: each record's `card` or `text` field is posted",
        );
    }
    Ok(())
}

/// An attachment id, unique in its message: 32 hex digits from the card
/// and the record's place (Graph takes any id the body points at).
fn attachment_id(content: &str, index: usize) -> String {
    let hash = |seed: u64| {
        content
            .bytes()
            .chain(index.to_le_bytes())
            .fold(seed, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
    };
    format!(
        "{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x8422_2325_cbf2_9ce4)
    )
}

/// The `chatMessage` that carries `card`: an HTML body that points at the
/// attachment, whose `content` is the card's JSON as a string.
pub fn message(card: &Value, subject: Option<String>, index: usize) -> Value {
    let content = card.to_string();
    let id = attachment_id(&content, index);
    let mut m = json!({
        "body": {"contentType": "html", "content": format!("<attachment id=\"{id}\"></attachment>")},
        "attachments": [{"id": id, "contentType": ADAPTIVE, "contentUrl": null, "content": content}]
    });
    if let Some(s) = subject {
        m["subject"] = Value::String(s);
    }
    m
}

/// Send `request`, waiting out throttling (`429`, and `503` with
/// `Retry-After`): twice before the batch's first message went out (an
/// error then makes the host call again, which posts nothing twice), once
/// per message after, all within [`MAX_WAIT_SECS`].
fn send(request: &Request, sent: usize, waited: &mut u32) -> Result<Response> {
    let tries = if sent == 0 { 2 } else { 1 };
    let mut tried = 0;
    loop {
        let response = request.clone().send_once()?;
        let wait = match response.status {
            429 => Some(response.retry_after().unwrap_or(DEFAULT_WAIT_SECS)),
            503 => response.retry_after(),
            _ => None,
        };
        let Some(secs) = wait.map(|s| s.max(1)) else {
            return Ok(response);
        };
        if tried >= tries || *waited + secs > MAX_WAIT_SECS {
            return Err(Error::RateLimited(secs));
        }
        std::thread::sleep(Duration::from_secs(u64::from(secs)));
        *waited += secs;
        tried += 1;
    }
}

/// Post one message per record.
pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let (team, channel) = ids(config)?;
    let url = format!("{}/messages", channel_url(config, &team, &channel));
    let mut result = PushResult::default();
    let (mut sent, mut waited) = (0usize, 0u32);
    let mut last = None;
    let started = Instant::now();
    for (index, record) in records.iter().enumerate() {
        if sent > 0 && started.elapsed() > Duration::from_secs(MAX_POSTING_SECS) {
            let why = "this call's time ran out (Teams takes 4 requests a second on a channel, \
                       and a call lasts 30 s at most)";
            result.reject_rest(index, records.len(), why);
            break;
        }
        if record.op == Op::Delete {
            result.reject(
                index,
                None,
                "Teams messages are not deleted by this connector",
            );
            continue;
        }
        let Some(card) = card(config, record) else {
            result.reject(index, Some("text"), "no card: set the connection's `card`, `title` or `text`, or give the record a `card` or `text` field");
            continue;
        };
        let subject = config
            .subject
            .as_ref()
            .map(|t| template::text(t, record, template::plain))
            .filter(|s| !s.trim().is_empty());
        // Record data goes as data: a `{{…}}` in it is sent as text, never
        // filled by the host.
        let request = Request::post(url.clone())
            .header("Accept", "application/json")
            .oauth_bearer()
            .json_data(&message(&card, subject, index))?;
        let answer = match send(&request, sent, &mut waited) {
            Ok(answer) => answer,
            Err(stop) if sent == 0 => return Err(stop),
            Err(stop) => {
                result.reject_rest(index, records.len(), &stop.to_string());
                return Ok(result);
            }
        };
        match answer.status {
            200..=299 => {
                sent += 1;
                result.created += 1;
                let posted: Value = answer.json().unwrap_or(Value::Null);
                last = posted["id"].as_str().map(str::to_string);
            }
            400 | 413 => result.reject(
                index,
                Some("card"),
                format!("Teams refused the message: {}", errors().message(&answer)),
            ),
            _ => {
                let stop = refusal(answer);
                if sent == 0 {
                    return Err(stop);
                }
                result.reject_rest(index, records.len(), &stop.to_string());
                return Ok(result);
            }
        }
    }
    if let Some(id) = last {
        wharf_sdk::log::info(format!(
            "posted {sent} message(s) to the channel; the last one is {id}"
        ));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(team: &str, channel: &str) -> Config {
        serde_json::from_value(json!({"team_id": team, "channel_id": channel})).unwrap()
    }

    const TEAM: &str = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b";

    #[test]
    fn ids_are_checked_before_they_go_into_a_path() {
        let channel = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2";
        assert_eq!(
            ids(&config(TEAM, channel)).unwrap(),
            (TEAM.to_string(), channel.to_string())
        );
        let copied = "19%3a4a95f7d8db4c4e7fae857bcebe0623e6%40thread.tacv2";
        assert_eq!(ids(&config(TEAM, copied)).unwrap().1, channel);
        let c = config(TEAM, channel);
        assert_eq!(
            channel_url(&c, TEAM, channel),
            format!(
                "{API}/v1.0/teams/{TEAM}/channels/19%3A4a95f7d8db4c4e7fae857bcebe0623e6%40thread.tacv2"
            )
        );
        for bad in [
            "19:x@thread.tacv2/../../me",
            "19:x@thread.tacv2?x=1",
            "19:a b@thread.tacv2",
            "19:@thread.tacv2",
            "20:x@thread.tacv2",
            "19:x@thread.",
            "19:x",
        ] {
            assert!(
                matches!(ids(&config(TEAM, bad)), Err(Error::Config(_))),
                "{bad}"
            );
        }
        for bad in ["../me", "fbe2bf47-16c8-47cf-b4a5-4b9b187c508", "x"] {
            assert!(
                matches!(ids(&config(bad, channel)), Err(Error::Config(_))),
                "{bad}"
            );
        }
        let none: Config = serde_json::from_value(json!({})).unwrap();
        assert!(matches!(ids(&none), Err(Error::Config(_))));
    }

    #[test]
    fn the_card_is_an_attachment_the_body_points_at() {
        let card = json!({"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "{{secret:x}}"}]});
        let m = message(&card, Some("Sync failed".into()), 3);
        let a = &m["attachments"][0];
        let id = a["id"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(
            m["body"]["content"],
            format!("<attachment id=\"{id}\"></attachment>")
        );
        assert_eq!(m["body"]["contentType"], "html");
        assert_eq!(a["contentType"], ADAPTIVE);
        assert!(a["contentUrl"].is_null());
        let back: Value = serde_json::from_str(a["content"].as_str().unwrap()).unwrap();
        assert_eq!(back, card);
        assert_eq!(m["subject"], "Sync failed");
        assert_ne!(
            message(&card, None, 4)["attachments"][0]["id"],
            a["id"],
            "each message its own id"
        );
        assert!(message(&card, None, 3).get("subject").is_none());
        // As sent: no `{{` the host could take for a placeholder.
        let r = Request::post("https://graph.microsoft.com/v1.0/x")
            .json_data(&m)
            .unwrap();
        let sent = String::from_utf8(r.body_bytes().unwrap().to_vec()).unwrap();
        assert!(!sent.contains("{{"), "{sent}");
        let decoded: Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(decoded, m);
    }

    #[test]
    fn graph_errors_in_graph_words() {
        let body = json!({"error": {"code": "Forbidden", "message": "Missing scope permissions on the request.",
            "innerError": {"date": "2026-01-05T10:00:00", "request-id": "x"}}});
        assert_eq!(
            message_of(&body).unwrap(),
            "Forbidden: Missing scope permissions on the request."
        );
        let r = Response::new(403, vec![], body.to_string().into_bytes());
        let e = refusal(r);
        assert!(
            matches!(&e, Error::Auth(m) if m.contains("Missing scope") && m.contains("member")),
            "{e}"
        );
        let r = Response::new(
            404,
            vec![],
            br#"{"error":{"code":"NotFound","message":"No team found"}}"#.to_vec(),
        );
        assert!(matches!(refusal(r), Error::Config(m) if m.contains("No team found")));
        let r = Response::new(401, vec![], b"{}".to_vec());
        assert!(matches!(refusal(r), Error::AuthExpired(_)));
    }
}
