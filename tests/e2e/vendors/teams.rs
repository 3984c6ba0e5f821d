//! The `teams` connector through `wharf serve` against a fake Workflows
//! webhook: rows become Adaptive Cards filled from templates, a card too
//! large for Teams rejects that row, a `429` is waited out, and a URL with
//! a wrong `sig` stops the run as an authentication error without the URL
//! in any answer.

use serde_json::json;

use super::Wharf;
use super::fakes::teams;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_posts_rows_as_adaptive_cards() {
    let (api, fake) = teams::start(teams::Teams::tenant()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("teams").await;
    let files = wharf.upload("files").await;
    let source = wharf
        .connection("rows", &files, json!({"key": "name"}), json!({}))
        .await;
    let url = api.url(&teams::workflow_path_and_query());
    let channel = wharf
        .connection(
            "teams-alerts",
            &connector,
            json!({"workflow_origin": api.origin(), "title": "Sync {name}: {status}", "text": "{detail}"}),
            json!({"workflow_url": url}),
        )
        .await;
    assert_eq!(wharf.check(&channel).await.json["ok"], true);
    let sync = wharf
        .sync(
            json!({"name": "to-teams", "source": source, "streams": ["rows"], "mode": "full",
                     "destination": channel, "error_threshold": 5}),
        )
        .await;
    fake.lock().unwrap().throttle_next = 1;
    let rows = format!(
        "name,status,detail\nxero,failed,token expired\nhuge,ok,{}\nshop,ok,fine\n",
        "x".repeat(30_000)
    );
    let run = wharf
        .run_file(&sync, "rows.csv", "text/csv", rows.into_bytes())
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["created"], 2, "{run}");
    let errors = wharf.rejected(&run).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["key"], "huge");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused_429, 1);
        assert_eq!(f.posted_workflow.len(), 2);
        let card = &f.posted_workflow[0];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["body"][0]["text"], "Sync xero: failed");
        assert_eq!(card["body"][1]["text"], "token expired");
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    }

    // A URL whose signature is wrong.
    let wrong = url.replace(teams::SIG, "not-the-sig");
    let bad = wharf
        .connection(
            "teams-bad",
            &connector,
            json!({"workflow_origin": api.origin(), "text": "{name}"}),
            json!({"workflow_url": wrong}),
        )
        .await;
    let sync = wharf
        .sync(json!({"name": "bad-teams", "source": source, "streams": ["rows"], "mode": "full", "destination": bad}))
        .await;
    let run = wharf
        .run_file(&sync, "one.csv", "text/csv", b"name\nx\n".to_vec())
        .await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "auth", "{run}");
    assert!(!run.to_string().contains("not-the-sig"), "{run}");
}
