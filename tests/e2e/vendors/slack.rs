//! The `slack` connector through `wharf serve` against a fake Slack whose
//! Web API requests are checked against Slack's OpenAPI description: rows
//! of a CSV become messages (a template with the record's fields, Block
//! Kit blocks), Slack's refusals of one message reject that row alone, a
//! `{{secret:…}}` written in the data is posted as text and never
//! substituted, a 429 is waited out without posting twice; the incoming
//! webhook mode; and Slack's Events API: the signed `url_verification`
//! answered, a forged or stale signature refused, an event landed as a
//! record.

use serde_json::{Value, json};

use super::Wharf;
use super::fakes::slack::{self, BOT_TOKEN, SIGNING_SECRET, WEBHOOK_PATH};

const ALERTS: &str = "name,status,channel\n\
Invoice sync,failed <fast> & loud,C0CARBON1\n\
Archive,ok,C0ARCHIVE\n\
Nowhere,ok,#no-such-channel\n\
Secret,{{secret:bot_token}},#carbon\n";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn csv_source(wharf: &Wharf) -> String {
    let files = wharf.upload("files").await;
    wharf
        .connection("alerts-csv", &files, json!({"key": "name"}), json!({}))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_posts_rows_as_messages_and_rejects_what_slack_refuses() {
    let (api, fake) = slack::start(slack::Slack::workspace()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("slack").await;
    let source = csv_source(&wharf).await;
    let bot = wharf
        .connection(
            "slack-bot",
            &connector,
            json!({"base_url": api.origin(), "webhook_origin": api.origin(),
                   "text": "*{name}* is {status}",
                   "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "{name}"}},
                              {"type": "section", "text": {"type": "mrkdwn", "text": "Status: *{status}*"}}]}),
            json!({"bot_token": BOT_TOKEN}),
        )
        .await;
    let check = wharf.check(&bot).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);

    let sync = wharf
        .sync(
            json!({"name": "alerts", "source": source, "streams": ["rows"], "mode": "full",
                     "destination": bot, "error_threshold": 10}),
        )
        .await;
    let run = wharf
        .run_file(&sync, "alerts.csv", "text/csv", ALERTS.as_bytes().to_vec())
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 2, "{run}");
    assert_eq!(run["counters"]["rejected"], 2, "{run}");
    let mut rejected: Vec<(String, String)> = wharf
        .rejected(&run)
        .await
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rejected.sort();
    assert!(rejected[0].1.contains("channel_not_found"), "{rejected:?}");
    assert!(rejected[1].1.contains("is_archived"), "{rejected:?}");
    assert!(rejected.iter().all(|(f, _)| f == "channel"));

    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        let carbon = f.posted_to("C0CARBON1");
        assert_eq!(carbon.len(), 2);
        let first = carbon
            .iter()
            .find(|p| p.text.as_deref().unwrap().contains("Invoice"))
            .unwrap();
        // mrkdwn's control characters escaped, as Slack asks.
        assert_eq!(
            first.text.as_deref(),
            Some("*Invoice sync* is failed &lt;fast&gt; &amp; loud")
        );
        assert_eq!(
            first.blocks.as_ref().unwrap()[0]["text"]["text"],
            json!("Invoice sync")
        );
        // The data's `{{secret:bot_token}}` went out as text.
        let secret = carbon
            .iter()
            .find(|p| p.text.as_deref().unwrap().starts_with("*Secret*"))
            .unwrap();
        assert_eq!(
            secret.text.as_deref(),
            Some("*Secret* is {{secret:bot_token}}")
        );
        assert!(
            f.posted
                .iter()
                .all(|p| !format!("{p:?}").contains(BOT_TOKEN)),
            "the token was posted"
        );
        assert_eq!(f.refused_429, 0);
    }

    // Slack asks to slow down: the message waits and goes out once.
    fake.lock().unwrap().throttle_next = 1;
    let run = wharf
        .run_file(
            &sync,
            "one.csv",
            "text/csv",
            b"name,status,channel\nRetry,ok,#general\n".to_vec(),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let f = fake.lock().unwrap();
    assert_eq!(f.refused_429, 1);
    assert_eq!(f.posted_to("C1H9RESGL").len(), 1);
    let calls: Vec<_> = f
        .calls
        .iter()
        .filter(|(p, _)| p.ends_with("chat.postMessage"))
        .collect();
    let last = calls.len() - 1;
    assert!(
        calls[last].1 - calls[last - 1].1 >= std::time::Duration::from_secs(2),
        "Retry-After: 2 was not waited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_incoming_webhook_posts_to_its_channel() {
    let (api, fake) = slack::start(slack::Slack::workspace()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("slack").await;
    let source = csv_source(&wharf).await;
    let hook = wharf
        .connection(
            "slack-webhook",
            &connector,
            json!({"mode": "webhook", "webhook_origin": api.origin(), "base_url": api.origin()}),
            json!({"webhook_url": api.url(WEBHOOK_PATH)}),
        )
        .await;
    let sync = wharf
        .sync(json!({"name": "hooked", "source": source, "streams": ["rows"], "mode": "full", "destination": hook}))
        .await;
    // Without a template the record is the message: `text` from the row.
    let run = wharf
        .run_file(
            &sync,
            "m.csv",
            "text/csv",
            b"name,text\nm1,Deploy *done*\n".to_vec(),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.posted.len(), 1);
        assert!(f.posted[0].webhook);
        assert_eq!(f.posted[0].channel, f.webhook_channel);
        assert_eq!(f.posted[0].text.as_deref(), Some("Deploy *done*"));
    }
    // A revoked webhook stops the run as an authentication failure.
    let revoked = wharf
        .connection(
            "slack-revoked",
            &connector,
            json!({"mode": "webhook", "webhook_origin": api.origin()}),
            json!({"webhook_url": api.url("/services/T00000000/B00000000/revoked")}),
        )
        .await;
    let sync = wharf
        .sync(json!({"name": "revoked", "source": source, "streams": ["rows"], "mode": "full", "destination": revoked}))
        .await;
    let run = wharf
        .run_file(
            &sync,
            "m.csv",
            "text/csv",
            b"name,text\nm2,hello\n".to_vec(),
        )
        .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "auth", "{run}");
    // The webhook URL is a secret: nowhere in the run (its connection's
    // name, `slack-revoked`, is).
    assert!(!run.to_string().contains("B00000000/revoked"), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_events_are_verified_and_land_as_records() {
    let wharf = Wharf::start().await;
    let connector = wharf.upload("slack").await;
    let conn = wharf
        .connection(
            "slack-events",
            &connector,
            json!({}),
            json!({"webhook_secret": SIGNING_SECRET}),
        )
        .await;
    let sync = wharf
        .sync(json!({"name": "slack-events", "source": conn, "streams": ["events"], "mode": "incremental", "destination": "records"}))
        .await;
    let path = wharf.webhook(&conn).await;
    let headers = |ts: i64, body: &[u8], signature: Option<String>| {
        vec![
            ("content-type", "application/json".to_string()),
            ("x-slack-request-timestamp", ts.to_string()),
            (
                "x-slack-signature",
                signature.unwrap_or_else(|| slack::sign(ts, body)),
            ),
        ]
    };

    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    let body = slack::url_verification(challenge);
    let a = wharf
        .deliver(&path, &headers(now(), &body, None), &body)
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.text.trim(), challenge);
    // The same handshake, forged or replayed from long ago, is refused.
    let forged = headers(now(), &body, Some(format!("v0={}", "0".repeat(64))));
    assert_eq!(wharf.deliver(&path, &forged, &body).await.status, 401);
    let stale = now() - 600;
    let a = wharf
        .deliver(&path, &headers(stale, &body, None), &body)
        .await;
    assert_eq!(a.status, 401);

    let event = slack::event_callback("carbon report is ready");
    let a = wharf
        .deliver(&path, &headers(now(), &event, None), &event)
        .await;
    assert!(a.status.is_success(), "{:?}", a);
    let mut tampered = event.clone();
    let at = tampered.len() - 3;
    tampered[at] ^= 1;
    let a = wharf
        .deliver(&path, &headers(now(), &event, None), &tampered)
        .await;
    assert_eq!(a.status, 401);

    let sent: Value = serde_json::from_slice(&event).unwrap();
    let mut records = Vec::new();
    for _ in 0..100 {
        records = wharf.records(&sync, "events").await;
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["key"], sent["event_id"]);
    assert_eq!(records[0]["data"]["text"], "carbon report is ready");
    assert_eq!(records[0]["data"]["team_id"], sent["team_id"]);
}
