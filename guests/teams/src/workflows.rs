//! The `teams` build: Adaptive Cards through a Workflows webhook (the
//! "When a Teams webhook request is received" trigger that replaced Office
//! 365 connectors).
//!
//! - The workflow's URL is the `workflow_url` secret: the whole URL, whose
//!   `sig` is the credential, bound to Power Automate's hosts.
//! - `202 Accepted` is success (the flow runs later); the trigger's `400`
//!   rejects that record, `401`/`403`/`404` stop the batch, a `429` waits
//!   `Retry-After`, and nothing of a batch is posted twice.

use wharf_sdk::Secret;
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;

use crate::{Config, ICON, card, card_properties};

const WORKFLOW_URL: Secret = Secret::new("workflow_url");

/// The most a push waits for `Retry-After` in all once messages of the
/// batch went out, within the call's 30 s.
const MAX_WAIT_MID_BATCH_SECS: u32 = 12;

/// The `teams` build's spec.
pub fn spec() -> Spec {
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

/// Workflows have no call that does not post, so the check only says
/// what will be posted.
pub fn check(config: &Config) -> Result<()> {
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

/// Post one card per record.
pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
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

fn config_schema() -> Value {
    let mut props = card_properties();
    props.insert(
        "workflow_origin".into(),
        json!({"type": "string", "format": "uri", "title": "Workflow origin", "description": "Leave empty for Power Automate's hosts (*.logic.azure.com, *.environment.api.powerplatform.com)"}),
    );
    json!({"type": "object", "additionalProperties": false, "properties": props})
}
