//! The `tiktok-ads` connector through `wharf serve` against a fake TikTok
//! API for Business: TikTok's `auth_code` exchange made once, as an
//! administrator does (the host cannot run it, see `docs/vendors/ads.md`),
//! its long-term token stored as the `access_token` secret; a wrong token
//! failing the check as an authentication error; a first sync whose 45
//! days of ad-level reports come from async report tasks (pending pages
//! while TikTok builds the file, the CSV read a page at a time, quoted
//! names and all) with the ad structure paged; then an incremental sync,
//! throttled once by TikTok (`40100`) and waiting it out, that re-reads
//! the last seven days with the synchronous report (late conversions
//! land) and keeps only the campaign that changed; no token in any
//! record, log or answer; and a revoked token failing the run as auth.
//! A second test: a failed async task falls back to the synchronous
//! windows once, keeping the rows of windows TikTok truncates instead of
//! creating a task again (which looped for ever).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::Wharf;
use super::fakes::tiktok_ads::{
    self, ADVERTISERS, APP_ID, APP_SECRET, QUOTED_NAME, Row, Stats, TikTok, day_text, today,
};
use crate::support::Upstream;

const STREAMS: [&str; 5] = ["advertisers", "campaigns", "adgroups", "ads", "reports"];
const METRICS: [&str; 9] = [
    "spend",
    "impressions",
    "clicks",
    "ctr",
    "conversion",
    "cost_per_conversion",
    "campaign_id",
    "adgroup_id",
    "ad_name",
];

/// POST a JSON body; TikTok's envelope.
async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> Value {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// TikTok's token exchange as an administrator makes it: the advertiser
/// authorizes the app at `/portal/auth`, the callback brings `auth_code`
/// (not `code`), and a JSON POST trades it for the long-term token.
async fn exchange(api: &Upstream) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = browser
        .get(api.url("/portal/auth"))
        .query(&[
            ("app_id", APP_ID),
            ("state", "wharf-42"),
            ("redirect_uri", "https://wharf.example/tiktok/callback"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 302);
    let location = consent.headers()["location"].to_str().unwrap().to_string();
    let back = url::Url::parse(&location).unwrap();
    let params: BTreeMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(params.get("state").map(String::as_str), Some("wharf-42"));
    assert!(
        !params.contains_key("code"),
        "TikTok sends auth_code: {location}"
    );
    let body = json!({"app_id": APP_ID, "secret": APP_SECRET, "auth_code": params["auth_code"]});
    let url = api.url("/open_api/v1.3/oauth2/access_token/");
    let answer = post_json(&browser, &url, &body).await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["advertiser_ids"], json!(ADVERTISERS));
    let again = post_json(&browser, &url, &body).await;
    assert_eq!(again["code"], 40110, "an auth_code is good once: {again}");
    answer["data"]["access_token"].as_str().unwrap().to_string()
}

/// The report rows the fake holds for both advertisers over the days.
fn expected(fake: &tiktok_ads::Shared, from: i64, to: i64) -> Vec<Row> {
    let f = fake.lock().unwrap();
    ADVERTISERS
        .iter()
        .flat_map(|a| f.expected(a, "AUCTION_AD", from, to))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiktok_reports_async_then_sync_lookback_and_the_ad_structure() {
    let (api, fake) = tiktok_ads::start(TikTok::default()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("tiktok-ads").await;
    let token = exchange(&api).await;
    let today = today();
    let config = json!({"advertiser_ids": ADVERTISERS, "level": "ad", "metrics": METRICS,
        "start_date": day_text(today - 44), "lookback_days": 7, "page_size": 5,
        "csv_rows_per_page": 200, "base_url": api.url("/open_api/v1.3")});

    // A token TikTok does not know: the check fails as auth, in TikTok's words.
    let wrong = "0000000000aaaaaaaaaabbbbbbbbbbcccccccccc";
    let impostor = wharf
        .connection(
            "tiktok-wrong",
            &connector,
            config.clone(),
            json!({"access_token": wrong}),
        )
        .await;
    let check = wharf.check(&impostor).await;
    assert_eq!(check.json["ok"], false, "{}", check.text);
    assert_eq!(check.json["kind"], "auth", "{}", check.text);
    assert!(check.text.contains("has been revoked"), "{}", check.text);
    assert!(!check.text.contains(wrong), "{}", check.text);
    assert_eq!(fake.lock().unwrap().refused, [40110, 40105]);

    let conn = wharf
        .connection(
            "tiktok",
            &connector,
            config.clone(),
            json!({"access_token": token}),
        )
        .await;
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{}", check.text);
    let streams = wharf.discover(&conn).await;
    let reports = streams
        .iter()
        .find(|s| s["name"] == "reports")
        .expect("reports");
    assert_eq!(reports["key_field"], "id");
    assert_eq!(reports["cursor_field"], "date");
    let properties = &reports["schema"]["properties"];
    assert!(
        properties["spend"]["type"].to_string().contains("number"),
        "{properties}"
    );
    assert!(
        properties["conversions"].is_object(),
        "conversion is conversions: {properties}"
    );
    assert_eq!(properties["ad_name"]["type"], json!(["string", "null"]));

    // The first sync: 45 days, more than a synchronous report spans, so
    // an async task per advertiser (two pending polls each).
    let sync = wharf
        .sync(json!({"name": "tiktok-ads", "source": conn, "streams": STREAMS, "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let first = expected(&fake, today - 44, today);
    assert_eq!(first.len(), 20 * 45, "20 ads, 45 days");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        // A QPS refusal at a window's edge is waited out; nothing else.
        assert!(
            f.refused[2..].iter().all(|c| *c == 40100),
            "{:?}",
            f.refused
        );
        assert!(f.report_queries().is_empty(), "no synchronous report");
        assert_eq!(f.tasks.len(), 2, "one task per advertiser");
        assert!(
            f.tasks.values().all(|t| t.checks == 3),
            "two polls, then SUCCESS"
        );
        let advertisers: Vec<&str> = f.tasks.values().map(|t| t.advertiser.as_str()).collect();
        assert!(ADVERTISERS.iter().all(|a| advertisers.contains(a)));
        let body = &f.tasks.values().next().unwrap().body;
        assert_eq!(body["start_date"], day_text(today - 44));
        assert_eq!(
            body["end_date"],
            day_text(today + 1),
            "an advertiser ahead of UTC"
        );
        assert_eq!(body["enable_report_title_translation"], false);
        assert_eq!(f.downloads, 2);
    }
    assert_eq!(wharf.records_all(&sync, "reports").await, first.len());
    for (stream, n) in [
        ("campaigns", 5),
        ("adgroups", 10),
        ("ads", 20),
        ("advertisers", 2),
    ] {
        assert_eq!(
            wharf.records_all(&sync, stream).await,
            n,
            "{stream} (deleted ones left out)"
        );
    }
    let quoted: &Row = first
        .iter()
        .find(|r| r.ad["ad_name"] == QUOTED_NAME && r.day == today - 10)
        .expect("the quoted ad");
    let key = format!("{}|{}", day_text(today - 10), quoted.id);
    let found = wharf.records_where(&sync, "reports", &key).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let data = &found[0]["data"];
    let stats: Stats = quoted.stats;
    assert_eq!(data["ad_name"], QUOTED_NAME, "CSV quoting: {data}");
    assert_eq!(data["date"], day_text(today - 10));
    assert_eq!(data["level"], "ad");
    assert_eq!(data["ad_id"], quoted.id.as_str());
    assert_eq!(data["advertiser_id"], ADVERTISERS[0]);
    assert_eq!(data["ad_account_id"], ADVERTISERS[0]);
    assert_eq!(
        data["campaign_id"], quoted.ad["campaign_id"],
        "ids stay text"
    );
    assert!(
        (data["spend"].as_f64().unwrap() - stats.spend_cents as f64 / 100.0).abs() < 1e-9,
        "{data}"
    );
    assert_eq!(data["impressions"], stats.impressions);
    assert_eq!(data["conversions"], stats.conversions);

    // Later that day: TikTok attributes late conversions to three days
    // ago, a campaign is renamed, and the next call is throttled.
    let late = today - 3;
    let renamed = {
        let mut f = fake.lock().unwrap();
        f.revise(&quoted.id, late, 5);
        f.throttle_next = 1;
        f.rename_campaign(0, 1, "Summer push")
    };
    let calls_before = fake.lock().unwrap().calls.len();
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        let calls = &f.calls[calls_before..];
        let throttled = calls.iter().position(|c| c.code == 40100).expect("a 40100");
        let retry = calls[throttled + 1..]
            .iter()
            .find(|c| c.path == calls[throttled].path)
            .expect("the call made again");
        let waited = retry.at.duration_since(calls[throttled].at);
        assert!(waited >= Duration::from_millis(1900), "waited {waited:?}");
        assert_eq!(f.tasks.len(), 2, "eight days: the synchronous report");
        let queries = f.report_queries();
        let first_window: Vec<_> = queries.iter().filter(|q| q.3 == "1").collect();
        assert_eq!(
            first_window.len(),
            2,
            "one window per advertiser: {queries:?}"
        );
        for q in &first_window {
            assert_eq!(q.1, day_text(today - 6), "the last seven days again");
            assert_eq!(q.2, day_text(today + 1));
        }
        assert!(queries.len() > 2, "paged by page_info: {queries:?}");
        // TikTok's basic tier, 10 calls a second, kept by the host's budget
        // (a call admitted at the end of its window may arrive in the
        // fake's next second).
        assert!(f.max_per_second() <= 12, "{}", f.max_per_second());
    }
    let revised = expected(&fake, late, late);
    let row = revised.iter().find(|r| r.id == quoted.id).unwrap();
    let key = format!("{}|{}", day_text(late), quoted.id);
    let found = wharf.records_where(&sync, "reports", &key).await;
    assert_eq!(
        found[0]["data"]["conversions"], row.stats.conversions,
        "{found:?}"
    );
    assert_eq!(wharf.records_all(&sync, "reports").await, first.len());
    let campaigns = wharf.records_where(&sync, "campaigns", &renamed).await;
    assert_eq!(campaigns[0]["data"]["campaign_name"], "Summer push");
    assert_eq!(wharf.records_all(&sync, "campaigns").await, 5);
    let moved = run["counters"]["updated"].as_i64().unwrap_or(0);
    assert!(
        moved >= 2,
        "the revised day and the renamed campaign: {run}"
    );

    // No token in any record, log or answer.
    let mut shown = vec![check.text.clone()];
    for stream in STREAMS {
        shown.push(json!(wharf.records(&sync, stream).await).to_string());
    }
    let runs = wharf.get(&format!("/api/v1/syncs/{sync}/runs")).await;
    for r in runs.json["items"].as_array().cloned().unwrap_or_default() {
        let id = r["id"].as_str().unwrap();
        shown.push(wharf.get(&format!("/api/v1/runs/{id}/logs")).await.text);
    }
    shown.push(wharf.get(&format!("/api/v1/connections/{conn}")).await.text);
    let issued = fake.lock().unwrap().issued.clone();
    assert_eq!(issued, vec![token.clone()]);
    for text in &shown {
        assert!(!text.contains(&token), "the token leaked: {text}");
        assert!(!text.contains(APP_SECRET));
    }

    // The advertiser revokes the app: the run fails as auth.
    fake.lock().unwrap().revoke();
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "auth", "{run}");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("has been revoked") && !error.contains(&token),
        "{error}"
    );
}

/// TikTok fails the async task, then truncates every synchronous window
/// (`X-Tt-Ads-Throttle`): the pass falls back to the windows once, keeps
/// their rows with a warning, and creates no second task. (Creating one
/// on each truncated window sent the pass round failed task, windows,
/// new task, for ever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiktok_a_failed_task_falls_back_to_truncated_windows_once() {
    let mut state = TikTok::default();
    state.fail_tasks = true;
    state.truncate_reports = true;
    let (api, fake) = tiktok_ads::start(state).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("tiktok-ads").await;
    let token = exchange(&api).await;
    let today = today();
    let advertiser = ADVERTISERS[0];
    let config = json!({"advertiser_ids": [advertiser], "level": "ad", "metrics": METRICS,
        "start_date": day_text(today - 44), "page_size": 1000,
        "base_url": api.url("/open_api/v1.3")});
    let conn = wharf
        .connection(
            "tiktok-failed-task",
            &connector,
            config,
            json!({"access_token": token}),
        )
        .await;
    let sync = wharf
        .sync(json!({"name": "tiktok-failed-task", "source": conn, "streams": ["reports"], "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let expected_rows = {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.tasks.len(), 1, "one task, none per truncated window");
        let task = f.tasks.values().next().unwrap();
        assert_eq!(task.checks, 3, "two polls, then FAILED");
        assert!(task.fails && !task.canceled);
        assert_eq!(f.downloads, 0, "a failed task has no file");
        let windows: Vec<(String, String, String)> = f
            .report_queries()
            .into_iter()
            .map(|(_, from, to, page)| (from, to, page))
            .collect();
        assert_eq!(
            windows,
            vec![
                (day_text(today - 44), day_text(today - 15), "1".to_string()),
                (day_text(today - 14), day_text(today + 1), "1".to_string()),
            ],
            "the 46 days once, by 30-day windows"
        );
        f.expected(advertiser, "AUCTION_AD", today - 44, today)
    };
    assert!(!expected_rows.is_empty());
    assert_eq!(
        wharf.records_all(&sync, "reports").await,
        expected_rows.len(),
        "the truncated windows' rows are kept"
    );
    let id = run["id"].as_str().unwrap();
    let logs = wharf
        .get(&format!("/api/v1/runs/{id}/logs?limit=500"))
        .await
        .text;
    assert!(logs.contains("keeping the truncated rows"), "{logs}");
    assert!(!logs.contains(&token), "the token leaked: {logs}");
}
