//! Posting: `chat.postMessage` with the bot token, or the incoming
//! webhook. Slack answers the Web API with HTTP 200 and `ok: false` plus
//! an error code, and a webhook with a plain-text code and a 4xx; each is
//! sorted into "this message" (the record is rejected), "this connection"
//! (the batch stops) and "later" (wait and retry).

use wharf_sdk::Secret;
use wharf_sdk::prelude::*;

use crate::message::{self, Message};
use crate::{Config, Mode};

const BOT_TOKEN: Secret = Secret::new("bot_token");
const WEBHOOK_URL: Secret = Secret::new("webhook_url");

/// The most a push waits for Slack's `Retry-After` in all once messages of
/// the batch went out (an error then would send them again), within the
/// call's 30 s.
const MAX_WAIT_MID_BATCH_SECS: u32 = 12;

/// `auth.test` proves the bot token (the webhook mode has no call that
/// does not post).
pub fn check(config: &Config) -> Result<()> {
    if config.mode == Mode::Webhook {
        wharf_sdk::log::info(
            "webhook mode: Slack has no way to test a webhook URL without posting",
        );
        return Ok(());
    }
    let response = Request::post(format!("{}/api/auth.test", config.base()))
        .bearer(&BOT_TOKEN)
        .send()?;
    let body = web_api_body(&response)?;
    if body["ok"] != true {
        return Err(refusal(body["error"].as_str().unwrap_or("unknown_error")).error());
    }
    wharf_sdk::log::info(format!(
        "posting as {} to the workspace {}",
        body["user"].as_str().unwrap_or("?"),
        body["team"].as_str().unwrap_or("?")
    ));
    Ok(())
}

/// Post one message per record.
pub fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
    let mut result = PushResult::default();
    let mut sent = 0usize;
    let mut waited = 0u32;
    for (index, record) in records.iter().enumerate() {
        if record.op == Op::Delete {
            result.reject(
                index,
                None,
                "Slack messages are not deleted by this connector",
            );
            continue;
        }
        let message = message::of(config, record);
        if message.text.is_none() && message.blocks.is_none() {
            result.reject(
                index,
                Some("text"),
                "no text: set the connection's `text` template or give the record a `text` field",
            );
            continue;
        }
        let outcome = loop {
            match post(config, &message, sent == 0) {
                // Nothing of this batch went out yet: the host may retry it
                // whole (after the wait, or with backoff).
                Err(e) if sent == 0 => return Err(e),
                Err(Error::RateLimited(secs)) if waited + secs <= MAX_WAIT_MID_BATCH_SECS => {
                    std::thread::sleep(std::time::Duration::from_secs(u64::from(secs)));
                    waited += secs;
                }
                // Messages went out: erroring now would send them again, so
                // this record and the rest are refused instead, saying why.
                Err(e) => {
                    result.reject_rest(index, records.len(), &e.to_string());
                    return Ok(result);
                }
                Ok(outcome) => break outcome,
            }
        };
        match outcome {
            Ok(()) => {
                sent += 1;
                result.created += 1;
            }
            Err(Refusal::Message(field, why)) => result.reject(index, field, why),
            Err(refusal) if sent == 0 => return Err(refusal.error()),
            Err(refusal) => {
                result.reject_rest(index, records.len(), &refusal.error().to_string());
                return Ok(result);
            }
        }
    }
    Ok(result)
}

/// What Slack refused.
enum Refusal {
    /// This message (the field at fault, if known).
    Message(Option<&'static str>, String),
    /// The token or webhook: nothing will go through.
    Auth(String),
    /// The connection's setting (the webhook's channel is gone).
    Config(String),
    /// Slack's side; later may work.
    Transient(String),
    /// Anything else.
    Fatal(String),
}

impl Refusal {
    fn error(self) -> Error {
        match self {
            Self::Message(_, m) | Self::Fatal(m) => Error::Fatal(m),
            Self::Auth(m) => Error::Auth(m),
            Self::Config(m) => Error::Config(m),
            Self::Transient(m) => Error::Transient(m),
        }
    }
}

/// Slack's error codes (chat.postMessage's and the webhooks'), sorted.
fn refusal(code: &str) -> Refusal {
    let m = |field: Option<&'static str>, why: &str| {
        Refusal::Message(field, format!("Slack: {code} ({why})"))
    };
    match code {
        "channel_not_found" => m(Some("channel"), "no such channel, or the bot cannot see it"),
        "not_in_channel" => m(Some("channel"), "invite the bot to the channel"),
        "is_archived" => m(Some("channel"), "the channel is archived"),
        "no_text" | "missing_text_or_fallback_or_attachments" => {
            m(Some("text"), "the message has no text")
        }
        "msg_too_long" => m(Some("text"), "the text is too long"),
        "invalid_blocks" | "invalid_blocks_format" => {
            m(Some("blocks"), "Block Kit refused the blocks")
        }
        "too_many_attachments" | "invalid_attachments" => m(Some("attachments"), "bad attachments"),
        "invalid_payload" | "invalid_json" | "json_not_object" => {
            m(None, "Slack could not read the message")
        }
        "user_not_found" => m(None, "a user in the message does not exist"),
        "not_authed"
        | "invalid_auth"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "no_permission"
        | "missing_scope"
        | "invalid_token"
        | "no_service"
        | "no_team"
        | "action_prohibited"
        | "team_access_not_granted" => {
            Refusal::Auth(format!("Slack refused the credentials: {code}"))
        }
        "channel_is_archived" => Refusal::Config(format!(
            "Slack: {code}: the webhook's channel is archived; make a new webhook"
        )),
        "fatal_error"
        | "internal_error"
        | "service_unavailable"
        | "request_timeout"
        | "rollup_error" => Refusal::Transient(format!("Slack: {code}")),
        other => Refusal::Fatal(format!("Slack: {other}")),
    }
}

/// The JSON of a Web API answer (always HTTP 200 unless rate limited or
/// Slack is down).
fn web_api_body(response: &Response) -> Result<Value> {
    if response.status >= 500 {
        return Err(Error::Transient(format!(
            "Slack answered HTTP {}",
            response.status
        )));
    }
    if !response.is_success() {
        return Err(Error::Fatal(format!(
            "Slack answered HTTP {}: {}",
            response.status,
            response.text().chars().take(200).collect::<String>()
        )));
    }
    response.json()
}

/// Post one message; `Ok(Err(_))` is Slack's refusal of it. `first`: no
/// message of the batch went out yet, so a short `429` may be waited in
/// the SDK (later ones are waited by [`push`], which counts the time).
fn post(
    config: &Config,
    message: &Message,
    first: bool,
) -> Result<std::result::Result<(), Refusal>> {
    let retries = if first { 2 } else { 0 };
    let mut body = Map::new();
    if let Some(text) = &message.text {
        body.insert("text".into(), Value::String(text.clone()));
    }
    if let Some(blocks) = &message.blocks {
        body.insert("blocks".into(), blocks.clone());
    }
    match config.mode {
        Mode::Bot => {
            let Some(channel) = &message.channel else {
                return Ok(Err(Refusal::Message(
                    Some("channel"),
                    "no channel: set the connection's `channel` or give the record a `channel` field".into(),
                )));
            };
            body.insert("channel".into(), Value::String(channel.clone()));
            if let Some(ts) = &message.thread_ts {
                body.insert("thread_ts".into(), Value::String(ts.clone()));
            }
            let response = Request::post(format!("{}/api/chat.postMessage", config.base()))
                .bearer(&BOT_TOKEN)
                .json_data(&body)?
                .rate_limit_retries(retries)
                .send()?;
            let answer = web_api_body(&response)?;
            if answer["ok"] == true {
                return Ok(Ok(()));
            }
            Ok(Err(refusal(
                answer["error"].as_str().unwrap_or("unknown_error"),
            )))
        }
        Mode::Webhook => {
            let response = Request::post(WEBHOOK_URL.placeholder())
                .json_data(&body)?
                .rate_limit_retries(retries)
                .send()?;
            if response.is_success() {
                return Ok(Ok(()));
            }
            let code = response.text().trim().to_string();
            if response.status >= 500 {
                return Err(Error::Transient(format!(
                    "Slack answered HTTP {}: {code}",
                    response.status
                )));
            }
            Ok(Err(refusal(if code.is_empty() {
                "unknown_error"
            } else {
                &code
            })))
        }
    }
}
