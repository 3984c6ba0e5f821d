//! Property tests ("fuzz" targets) of incoming webhook verification, for
//! every scheme: a delivery signed as the sender documents it verifies, the
//! same delivery with any one byte of its body or signature changed does
//! not, and arbitrary headers, bodies and timestamps (signed or not) never
//! panic the verifier.
//!
//! `cargo test -p wharf --lib fuzz`; `PROPTEST_CASES=1000000` for a long
//! run (docs/operations.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;

use super::*;
use crate::model::spec::HmacHash;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Every scheme, with a header name for the ones that take one.
fn schemes() -> Vec<WebhookScheme> {
    let hmac = |hash, encoding, prefix: &str, signed: &str, ts: Option<&str>| {
        WebhookScheme::Hmac(HmacScheme {
            signature_header: "x-signature".into(),
            hash,
            encoding,
            prefix: prefix.into(),
            signed: signed.into(),
            timestamp_header: ts.map(str::to_string),
            tolerance_secs: 0,
            id_header: None,
        })
    };
    vec![
        WebhookScheme::StandardWebhooks,
        WebhookScheme::Github,
        WebhookScheme::Shopify,
        WebhookScheme::Stripe,
        // Slack's shape.
        hmac(
            HmacHash::Sha256,
            SignatureEncoding::Hex,
            "v0=",
            "v0:{timestamp}:{body}",
            Some("x-timestamp"),
        ),
        // Xero's shape.
        hmac(
            HmacHash::Sha256,
            SignatureEncoding::Base64,
            "",
            "{body}",
            None,
        ),
        hmac(
            HmacHash::Sha1,
            SignatureEncoding::Hex,
            "sha1=",
            "{header:x-id}.{body}",
            None,
        ),
        hmac(
            HmacHash::Sha512,
            SignatureEncoding::Base64,
            "",
            "{body}{timestamp}",
            Some("x-timestamp"),
        ),
    ]
}

/// Headers of a delivery of `body` at `ts`, signed under `scheme` as its
/// sender does.
fn signed(scheme: &WebhookScheme, body: &[u8], ts: i64) -> Vec<(String, String)> {
    let hm = |data: &[u8]| crate::model::mac::sign(HmacHash::Sha256, SECRET.as_bytes(), data);
    let h =
        |pairs: Vec<(&str, String)>| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    match scheme {
        WebhookScheme::StandardWebhooks => h(vec![
            ("webhook-id", "msg_1".into()),
            ("webhook-timestamp", ts.to_string()),
            (
                "webhook-signature",
                sign_standard(SECRET, "msg_1", ts, body).unwrap(),
            ),
        ]),
        WebhookScheme::Github => h(vec![(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(hm(body))),
        )]),
        WebhookScheme::Shopify => h(vec![("x-shopify-hmac-sha256", B64.encode(hm(body)))]),
        WebhookScheme::Stripe => {
            let mut data = format!("{ts}.").into_bytes();
            data.extend_from_slice(body);
            h(vec![(
                "stripe-signature",
                format!("t={ts},v1={}", hex::encode(hm(&data))),
            )])
        }
        WebhookScheme::Hmac(s) => {
            let ts_text = ts.to_string();
            let mut data = Vec::new();
            let template = s.signed.replace("{header:x-id}", "delivery-7");
            let (before_body, after_body) =
                template.split_once("{body}").unwrap_or((&template, ""));
            data.extend_from_slice(before_body.replace("{timestamp}", &ts_text).as_bytes());
            data.extend_from_slice(body);
            data.extend_from_slice(after_body.replace("{timestamp}", &ts_text).as_bytes());
            let mac = crate::model::mac::sign(s.hash, SECRET.as_bytes(), &data);
            let sig = match s.encoding {
                SignatureEncoding::Hex => hex::encode(mac),
                SignatureEncoding::Base64 => B64.encode(mac),
            };
            let mut headers = vec![
                ("x-signature", format!("{}{sig}", s.prefix)),
                ("x-id", "delivery-7".to_string()),
            ];
            if let Some(name) = &s.timestamp_header {
                headers.push((name.as_str(), ts_text));
            }
            h(headers)
        }
        WebhookScheme::StaticToken { header } => h(vec![(header.as_str(), SECRET.to_string())]),
    }
}

/// The header a scheme's signature is in.
fn signature_header(scheme: &WebhookScheme) -> &str {
    match scheme {
        WebhookScheme::StandardWebhooks => "webhook-signature",
        WebhookScheme::Github => "x-hub-signature-256",
        WebhookScheme::Shopify => "x-shopify-hmac-sha256",
        WebhookScheme::Stripe => "stripe-signature",
        WebhookScheme::Hmac(s) => &s.signature_header,
        WebhookScheme::StaticToken { header } => header,
    }
}

const NOW: i64 = 1_767_225_600;

proptest! {
    #[test]
    fn fuzz_webhooks_verify_exactly_what_was_signed(
        which in 0usize..8,
        body in prop::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        skew in -200i64..200,
    ) {
        let scheme = &schemes()[which];
        let ts = NOW + skew;
        let headers = signed(scheme, &body, ts);
        prop_assert!(verify(scheme, SECRET, &headers, &body, NOW).is_ok(), "{scheme:?}");

        if !body.is_empty() {
            let mut changed = body.clone();
            changed[flip.index(body.len())] ^= 1 << bit;
            prop_assert_eq!(verify(scheme, SECRET, &headers, &changed, NOW), Err(VerifyError::Signature));
        }
        // One character of the signature header changed: refused, as a
        // bad signature or a malformed header, never accepted.
        let name = signature_header(scheme);
        let mut forged = headers.clone();
        let value = &mut forged.iter_mut().find(|(k, _)| k == name).unwrap().1;
        let i = flip.index(value.len());
        let c = value.as_bytes()[i];
        let replacement = if c == b'0' { '1' } else { '0' };
        value.replace_range(i..=i, &replacement.to_string());
        prop_assert!(verify(scheme, SECRET, &forged, &body, NOW).is_err(), "{forged:?}");
    }

    #[test]
    fn fuzz_webhooks_never_panic_on_what_a_sender_controls(
        which in 0usize..8,
        body in prop::collection::vec(any::<u8>(), 0..64),
        ts in prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(-1i64), any::<i64>()],
        junk in prop::collection::vec(("[a-z-]{1,24}", "\\PC{0,40}"), 0..6),
    ) {
        let scheme = &schemes()[which];
        // Correctly signed, at any timestamp at all: refused as stale (or
        // accepted when fresh), never a panic or an overflow.
        let headers = signed(scheme, &body, ts);
        // The generic scheme reads a timestamp above 10^11 as milliseconds.
        let seconds = if matches!(scheme, WebhookScheme::Hmac(_)) && ts > 100_000_000_000 { ts / 1000 } else { ts };
        let fresh = (NOW - 300..=NOW + 300).contains(&seconds);
        let timestamped = !matches!(scheme, WebhookScheme::Github | WebhookScheme::Shopify)
            && !matches!(scheme, WebhookScheme::Hmac(h) if h.timestamp_header.is_none());
        let got = verify(scheme, SECRET, &headers, &body, NOW);
        if timestamped && !fresh {
            prop_assert_eq!(got, Err(VerifyError::Stale), "{:?} at {}", scheme, ts);
        }
        // Arbitrary headers.
        let headers: Vec<(String, String)> = junk;
        let _ = verify(scheme, SECRET, &headers, &body, NOW);
    }
}
