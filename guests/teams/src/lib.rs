//! `teams`: records as Adaptive Cards in a Microsoft Teams channel or chat,
//! through a Workflows webhook (the "When a Teams webhook request is
//! received" trigger that replaced Office 365 connectors).
//!
//! - The workflow's URL is the `workflow_url` secret: the whole URL, whose
//!   `sig` is the credential, bound to Power Automate's hosts.
//! - The card comes from the config's `card` template (an Adaptive Card
//!   with `{field}` placeholders filled by the connector, as Workflows do
//!   not evaluate `${…}` bindings), or is built from `title` and `text`
//!   templates, or is the record's own `card`.
//! - `202 Accepted` is success (the flow runs later); the trigger's `400`
//!   rejects that record, `401`/`403`/`404` stop the batch, a `429` waits
//!   `Retry-After`, and nothing of a batch is posted twice.
//!
//! Built from Microsoft's documentation of Workflows webhooks and Adaptive
//! Cards; see `docs/vendors/teams-discord.md`.

use serde::Deserialize;
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;
use wharf_sdk::{Secret, template};

const WORKFLOW_URL: Secret = Secret::new("workflow_url");

/// The most a push waits for `Retry-After` in all once messages of the
/// batch went out, within the call's 30 s.
const MAX_WAIT_MID_BATCH_SECS: u32 = 12;

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A bold first line, with `{field}` from the record.
    #[serde(default)]
    title: Option<String>,
    /// The card's text (Adaptive Cards' markdown subset), with placeholders.
    #[serde(default)]
    text: Option<String>,
    /// A whole Adaptive Card, with placeholders in every string.
    #[serde(default)]
    card: Option<Value>,
    /// Where the workflow URL may point, if not Power Automate's hosts.
    #[serde(default)]
    #[allow(dead_code)]
    workflow_origin: Option<String>,
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#5059c9"/><rect x="10" y="18" width="30" height="30" rx="4" fill="#7b83eb"/><path d="M18 26h14M25 26v16" stroke="#fff" stroke-width="4"/><circle cx="48" cy="22" r="6" fill="#fff"/></svg>"##;

pub struct Teams;

impl Connector for Teams {
    type Config = Config;

    fn spec() -> Spec {
        // Power Automate's trigger hosts, old and new, or the config's.
        let hosts = [
            "{config.workflow_origin|https://*.logic.azure.com}",
            "{config.workflow_origin|https://*.environment.api.powerplatform.com}",
        ];
        let mut secret = SecretSpec::new("workflow_url").description(
            "The workflow's HTTP POST URL (Workflows → \"When a Teams webhook request is received\"), sig included",
        );
        let mut spec = Spec::new("teams", env!("CARGO_PKG_VERSION"))
            .description(
                "Microsoft Teams: each record an Adaptive Card posted through a Workflows webhook, \
                 filled from templates.",
            )
            .role(Role::Destination)
            .config_schema(config_schema());
        for host in hosts {
            spec = spec.host(host);
            secret = secret.host(host);
        }
        spec.secret(secret).catalog(
            Catalog::new("Microsoft Teams")
                .category(Category::Messaging)
                .icon_svg(ICON)
                .documentation_url("https://support.microsoft.com/office/create-incoming-webhooks-with-workflows-for-microsoft-teams-8ae491c7-0394-4861-ba59-055e33f75498")
                .publisher("Wharf"),
        )
    }

    fn check(config: &Config) -> Result<()> {
        if config.card.is_none() && config.text.is_none() && config.title.is_none() {
            wharf_sdk::log::info(
                "no card, title or text template: each record's `card` or `text` field is posted",
            );
        }
        wharf_sdk::log::info(
            "Workflows have no call that does not post: the URL is tried on the first message",
        );
        Ok(())
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        let mut result = PushResult::default();
        let (mut sent, mut waited) = (0usize, 0u32);
        for (index, record) in records.iter().enumerate() {
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
            let body = json!({"type": "message", "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": card}]});
            let response = loop {
                let request = Request::post(WORKFLOW_URL.placeholder())
                    .json_data(&body)?
                    .rate_limit_retries(if sent == 0 { 2 } else { 0 });
                match request.send() {
                    Err(Error::RateLimited(secs))
                        if sent > 0 && waited + secs <= MAX_WAIT_MID_BATCH_SECS =>
                    {
                        std::thread::sleep(std::time::Duration::from_secs(u64::from(secs)));
                        waited += secs;
                    }
                    Err(e) if sent == 0 => return Err(e),
                    Err(e) => {
                        result.reject_rest(index, records.len(), &e.to_string());
                        return Ok(result);
                    }
                    Ok(r) => break r,
                }
            };
            let said = || {
                let v: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                let code = v["error"]["code"].as_str().unwrap_or("");
                let message = v["error"]["message"].as_str().unwrap_or("");
                format!("Teams workflow: HTTP {} {code} {message}", response.status)
                    .trim()
                    .to_string()
            };
            let stop = match response.status {
                200..=299 => {
                    sent += 1;
                    result.created += 1;
                    continue;
                }
                400 | 413 => {
                    result.reject(index, Some("card"), said());
                    continue;
                }
                401 | 403 | 404 => Error::Auth(format!(
                    "{}: is the workflow on, and its URL whole?",
                    said()
                )),
                s if s >= 500 => Error::Transient(said()),
                _ => Error::Fatal(said()),
            };
            if sent == 0 {
                return Err(stop);
            }
            result.reject_rest(index, records.len(), &stop.to_string());
            return Ok(result);
        }
        Ok(result)
    }
}

/// The Adaptive Card of `record`.
fn card(config: &Config, record: &Record) -> Option<Value> {
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

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "title": {"type": "string", "title": "Title", "description": "A bold first line, with {field} or {a.b} from the record"},
            "text": {"type": "string", "title": "Text", "description": "The card's text, with {field} or {a.b} from the record; default: the record's text field"},
            "card": {"type": "object", "title": "Adaptive Card", "description": "A whole Adaptive Card (version 1.4 is safe), with {field} placeholders in every string; ${…} bindings are not evaluated by Workflows"},
            "workflow_origin": {"type": "string", "format": "uri", "title": "Workflow origin", "description": "Leave empty for Power Automate's hosts (*.logic.azure.com, *.environment.api.powerplatform.com)"}
        }
    })
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
}

export_connector!(Teams);
