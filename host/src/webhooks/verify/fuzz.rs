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
        WebhookScheme::StaticToken { header } if header.starts_with(BODY_TOKEN) => Vec::new(),
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
        which in 0usize..10,
        body in prop::collection::vec(any::<u8>(), 0..64),
        ts in prop_oneof![
            Just(i64::MIN), Just(i64::MAX), Just(-1i64), Just(0i64), any::<i64>(),
            (-300i64..=300).prop_map(|d| NOW + d),
            (-300_000i64..=300_000).prop_map(|d| NOW * 1000 + d),
            Just(NOW - 301), Just(NOW + 301),
        ],
        junk in prop::collection::vec((header_name(), header_value()), 0..6),
    ) {
        let all = [schemes(), token_schemes()].concat();
        let scheme = &all[which];
        // Correctly signed, at any timestamp at all: accepted when fresh,
        // refused as stale otherwise, never a panic or an overflow.
        let headers = signed(scheme, &body, ts);
        let got = verify(scheme, SECRET, &headers, &body, NOW);
        let timestamped = matches!(scheme, WebhookScheme::StandardWebhooks | WebhookScheme::Stripe)
            || matches!(scheme, WebhookScheme::Hmac(h) if h.timestamp_header.is_some());
        if timestamped {
            // The generic scheme reads a timestamp above 10^11 as milliseconds.
            let seconds = if matches!(scheme, WebhookScheme::Hmac(_)) && ts > 100_000_000_000 { ts / 1000 } else { ts };
            if (NOW - 300..=NOW + 300).contains(&seconds) {
                prop_assert!(got.is_ok(), "{:?} at {}: {:?}", scheme, ts, got);
            } else {
                prop_assert_eq!(got, Err(VerifyError::Stale), "{:?} at {}", scheme, ts);
            }
        } else if matches!(scheme, WebhookScheme::StaticToken { header } if header.starts_with(BODY_TOKEN)) {
            // The token is in the body, which here is random bytes.
            prop_assert!(got.is_err() || body.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
        } else {
            prop_assert!(got.is_ok(), "{:?}: {:?}", scheme, got);
        }
        // The scheme's own headers with hostile values, and other headers.
        let _ = verify(scheme, SECRET, &junk, &body, NOW);
        let mut mixed = headers.clone();
        mixed.extend(junk);
        let _ = verify(scheme, SECRET, &mixed, &body, NOW);
    }
}

/// The static-token schemes: in a header, and in the JSON body (Microsoft
/// Graph's `clientState`).
fn token_schemes() -> Vec<WebhookScheme> {
    vec![
        WebhookScheme::StaticToken {
            header: "x-token".into(),
        },
        WebhookScheme::StaticToken {
            header: format!("{BODY_TOKEN}/value/*/clientState"),
        },
    ]
}

/// Header names the schemes read, and others.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "x-hub-signature-256",
            "x-shopify-hmac-sha256",
            "stripe-signature",
            "x-signature",
            "x-timestamp",
            "x-id",
            "x-token",
            "X-Signature",
            "STRIPE-SIGNATURE",
        ])
        .prop_map(str::to_string),
        "[a-z-]{1,24}",
    ]
}

/// Values near what the schemes parse: prefixes, separators, hex, base64,
/// numbers at the edges, and anything.
fn header_value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("v1,".to_string()),
        Just("v1=".to_string()),
        Just("t=".to_string()),
        Just("sha256=".to_string()),
        Just("sha1=".to_string()),
        Just("v0=".to_string()),
        Just(",".to_string()),
        Just(" ".to_string()),
        Just("=".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("99999999999999999999".to_string()),
        "[0-9a-f]{0,64}",
        "[A-Za-z0-9+/=]{0,44}",
        "\\PC{0,8}",
    ];
    prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
}
