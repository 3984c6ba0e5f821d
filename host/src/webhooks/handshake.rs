//! The handshakes senders make when a webhook URL is registered, answered
//! by the host from the connector's spec:
//!
//! - Microsoft Graph posts `?validationToken=…` and wants it back as
//!   `text/plain` within 10 s ("Receive change notifications through
//!   webhooks", Microsoft Learn);
//! - Slack posts `{"type": "url_verification", "challenge": …}`, signed
//!   like any event, and wants the challenge back (Events API docs);
//! - Meta sends `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
//!   and wants the challenge back only if the verify token is the one
//!   configured (Graph API "Webhooks: Getting started").
//!
//! Answers are short plain text: a sender cannot use the echo to put HTML
//! or a large body on Wharf's origin.

use serde_json::Value;

use crate::model::spec::Handshake;

/// Longest value echoed back.
pub const MAX_ECHO_BYTES: usize = 1024;

/// What to do with a request to a webhook URL before (or instead of)
/// treating it as a delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Answer 200 with this text; nothing is delivered.
    Answer(String),
    /// A handshake that failed: 403 (a wrong verify token) or 400 (a
    /// value too long to echo).
    Refuse(u16, String),
    /// Not a handshake: verify and deliver it.
    Deliver,
}

fn echo(value: &str) -> Step {
    if value.len() > MAX_ECHO_BYTES || value.chars().any(char::is_control) {
        Step::Refuse(
            400,
            format!("a handshake value is at most {MAX_ECHO_BYTES} bytes of text"),
        )
    } else {
        Step::Answer(value.to_string())
    }
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Before the signature is checked: the handshakes whose requests are not
/// signed (Graph's validation, Meta's GET). `verify_token` is the
/// connection's `webhook_verify_token`, if set.
pub fn unsigned(
    handshake: Option<&Handshake>,
    method: &str,
    query: &[(String, String)],
    verify_token: Option<&str>,
) -> Step {
    match handshake {
        Some(Handshake::EchoQuery { parameter }) => match param(query, parameter) {
            Some(v) => echo(v),
            None => Step::Deliver,
        },
        Some(Handshake::HubChallenge) if method == "GET" => {
            if param(query, "hub.mode") != Some("subscribe") {
                return Step::Refuse(400, "expected hub.mode=subscribe".into());
            }
            let given = param(query, "hub.verify_token").unwrap_or_default();
            let ok = verify_token.is_some_and(|t| {
                subtle::ConstantTimeEq::ct_eq(t.as_bytes(), given.as_bytes()).into()
            });
            if !ok {
                return Step::Refuse(
                    403,
                    "hub.verify_token is not the connection's `webhook_verify_token`".into(),
                );
            }
            echo(param(query, "hub.challenge").unwrap_or_default())
        }
        _ => Step::Deliver,
    }
}

/// After the signature is checked: Slack's `url_verification`, which is
/// signed like its events.
pub fn signed(handshake: Option<&Handshake>, body: &[u8]) -> Step {
    let Some(Handshake::EchoJson { event_type, field }) = handshake else {
        return Step::Deliver;
    };
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Step::Deliver;
    };
    if v["type"].as_str() != Some(event_type) {
        return Step::Deliver;
    }
    match v[field.as_str()].as_str() {
        Some(c) => echo(c),
        None => Step::Refuse(400, format!("the handshake has no `{field}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn graph_validation_token_is_echoed() {
        let h = Handshake::EchoQuery {
            parameter: "validationToken".into(),
        };
        let token =
            "Validation: Testing client application reachability for subscription Request-Id: 1";
        assert_eq!(
            unsigned(Some(&h), "POST", &q(&[("validationToken", token)]), None),
            Step::Answer(token.into())
        );
        assert_eq!(unsigned(Some(&h), "POST", &[], None), Step::Deliver);
        let long = "x".repeat(MAX_ECHO_BYTES + 1);
        assert!(matches!(
            unsigned(Some(&h), "POST", &q(&[("validationToken", &long)]), None),
            Step::Refuse(400, _)
        ));
    }

    #[test]
    fn meta_challenge_needs_the_verify_token() {
        let h = Handshake::HubChallenge;
        let good = q(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "meatyhamhock"),
            ("hub.challenge", "1158201444"),
        ]);
        assert_eq!(
            unsigned(Some(&h), "GET", &good, Some("meatyhamhock")),
            Step::Answer("1158201444".into())
        );
        assert!(matches!(
            unsigned(Some(&h), "GET", &good, Some("other")),
            Step::Refuse(403, _)
        ));
        assert!(matches!(
            unsigned(Some(&h), "GET", &good, None),
            Step::Refuse(403, _)
        ));
        // A POST is an event notification.
        assert_eq!(unsigned(Some(&h), "POST", &good, None), Step::Deliver);
    }

    #[test]
    fn slack_url_verification_is_answered_after_the_signature() {
        let h = Handshake::EchoJson {
            event_type: "url_verification".into(),
            field: "challenge".into(),
        };
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        assert_eq!(
            signed(Some(&h), body),
            Step::Answer("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into())
        );
        assert_eq!(
            signed(Some(&h), br#"{"type":"event_callback"}"#),
            Step::Deliver
        );
        assert_eq!(signed(None, body), Step::Deliver);
    }
}
