//! The `discord` connector through `wharf serve` against a fake Discord:
//! rows become messages with embeds (mentions in the data ping nobody),
//! Discord's `Invalid Form Body` rejects that row naming the field, the
//! webhook's rate-limit bucket is waited out instead of being hit, a
//! revoked token stops the run as an authentication error; and a
//! notification subscription posts a failed run to Discord.

use serde_json::json;

use super::Wharf;
use super::fakes::discord::{self, WEBHOOK_ID, WEBHOOK_TOKEN};

const ROWS: &str = "name,status,detail\n\
xero,failed,@everyone the token expired\n\
shop,ok,all good\n\
long,ok,LONG\n\
drive,ok,fine\n\
files,ok,fine\n\
anaf,ok,fine\n\
neo4j,ok,fine\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_posts_rows_keeps_its_bucket_and_rejects_what_discord_refuses() {
    let (api, fake) = discord::start(discord::Discord::default()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("discord").await;
    let files = wharf.upload("files").await;
    let source = wharf
        .connection("rows", &files, json!({"key": "name"}), json!({}))
        .await;
    let hook = wharf
        .connection(
            "discord-alerts",
            &connector,
            json!({"webhook_id": WEBHOOK_ID, "base_url": api.origin(),
                   "content": "**{name}** is {status}",
                   "embeds": [{"title": "{name}", "description": "{detail}", "color": 15548997}]}),
            json!({"webhook_token": WEBHOOK_TOKEN}),
        )
        .await;
    let check = wharf.check(&hook).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    let sync = wharf
        .sync(
            json!({"name": "to-discord", "source": source, "streams": ["rows"], "mode": "full",
                     "destination": hook, "error_threshold": 5}),
        )
        .await;
    let rows = ROWS.replace("LONG", &"x".repeat(5000));
    let run = wharf
        .run_file(&sync, "rows.csv", "text/csv", rows.into_bytes())
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 6, "{run}");
    let errors = wharf.rejected(&run).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["key"], "long");
    assert_eq!(errors[0]["field"], "embeds.0.description", "{errors:?}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.posted.len(), 6);
        assert!(f.posted.iter().all(|p| p.wait));
        let first = &f.posted[0];
        assert_eq!(first.content.as_deref(), Some("**xero** is failed"));
        assert_eq!(
            first.embeds.as_ref().unwrap()[0]["description"],
            "@everyone the token expired"
        );
        // Six posts against a bucket of five per two seconds: the empty bucket
        // was waited out, never hit.
        assert_eq!(f.refused_429, 0);
        assert!(f.max_in_window(std::time::Duration::from_secs(2)) <= 5);
    }

    // Failed runs are posted through a connection without templates, so
    // the subscription's text is the message.
    let notify = wharf
        .connection(
            "discord-notify",
            &connector,
            json!({"webhook_id": WEBHOOK_ID, "base_url": api.origin()}),
            json!({"webhook_token": WEBHOOK_TOKEN}),
        )
        .await;
    let sub = wharf
        .post(
            "/api/v1/webhooks",
            json!({"connection": notify, "events": ["run.failed"]}),
        )
        .await;
    assert_eq!(sub.status, 201, "{:?}", sub.json);

    // A revoked token: the run stops as an authentication failure.
    let revoked = wharf
        .connection(
            "discord-revoked",
            &connector,
            json!({"webhook_id": WEBHOOK_ID, "base_url": api.origin(), "content": "{name}"}),
            json!({"webhook_token": "revoked-token"}),
        )
        .await;
    assert_eq!(wharf.check(&revoked).await.json["ok"], false);
    let sync = wharf
        .sync(json!({"name": "revoked", "source": source, "streams": ["rows"], "mode": "full", "destination": revoked}))
        .await;
    let run = wharf
        .run_file(&sync, "one.csv", "text/csv", b"name\nx\n".to_vec())
        .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "auth", "{run}");
    assert!(!run.to_string().contains(WEBHOOK_TOKEN));
    let mut posted = None;
    for _ in 0..200 {
        posted = fake
            .lock()
            .unwrap()
            .posted
            .iter()
            .filter_map(|p| p.content.clone())
            .find(|c| c.starts_with("Sync revoked failed"));
        if posted.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let posted = posted.expect("the failed run was posted");
    assert!(posted.contains("(auth)"), "{posted}");
}
