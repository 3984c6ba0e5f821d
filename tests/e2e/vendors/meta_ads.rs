//! The `meta-ads` connector through `wharf serve` against a fake Marketing
//! API (Graph API v26.0): the token checked (`/me`, its permissions, the
//! ad accounts it sees), then a first sync of every stream, insights
//! through async report runs (made, polled twice while pending, read four
//! rows a page by `after` cursors) for two accounts in windows of five
//! days; the next sync reads again only the lookback's days, makes again
//! the report run Meta failed, waits out an 80004 throttle as long as the
//! usage headers say, replaces the day attribution revised (of a live ad,
//! and of an ad deleted since, which Meta reports only to runs filtering
//! on `ad.effective_status` with `DELETED`) and reads only the campaign
//! that changed; a revoked token (code 190) fails the run as an
//! authentication error; the token is in no record, log or answer.

use serde_json::{Value, json};

use super::Wharf;
use super::fakes::meta_ads::{self, ACCESS_TOKEN};

const STREAMS: [&str; 5] = ["ad_accounts", "campaigns", "adsets", "ads", "insights"];

fn day(d: i64) -> String {
    wharf_sdk::time::date(d * 86_400)
}

fn param<'a>(s: &'a meta_ads::Seen, name: &str) -> Option<&'a str> {
    s.params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_insights_by_async_report_runs_then_the_lookback_again() {
    let (api, fake) = meta_ads::start(meta_ads::Meta::demo()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("meta-ads").await;
    let today = wharf_sdk::time::now_ms().div_euclid(86_400_000);
    let config = json!({"base_url": api.origin(), "start_date": day(today - 9),
        "lookback_days": 3, "days_per_report": 5, "page_size": 4});
    let secrets = json!({ "access_token": ACCESS_TOKEN });
    let conn = wharf
        .connection("meta-ads", &connector, config, secrets)
        .await;

    // The check: the token works, may read ads and sees two ad accounts.
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused, Vec::<String>::new());
        assert_eq!(f.violations, Vec::<String>::new());
        let paths: Vec<&str> = f.seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["me", "me/permissions", "me/adaccounts"]);
        assert!(f.seen.iter().all(|s| s.bearer && s.version == "v26.0"));
    }
    let streams = wharf.discover(&conn).await;
    let names: Vec<&str> = streams.iter().filter_map(|s| s["name"].as_str()).collect();
    for stream in STREAMS {
        assert!(names.contains(&stream), "{names:?}");
    }
    let insights = streams.iter().find(|s| s["name"] == "insights").unwrap();
    assert_eq!(insights["key_field"], "id");
    assert_eq!(insights["cursor_field"], "date");

    // The first sync reads everything since the start date.
    let sync = wharf
        .sync(json!({"name": "meta-ads", "source": conn, "streams": STREAMS, "mode": "incremental", "destination": "records"}))
        .await;
    let first = wharf.run(&sync).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let (ads, campaigns, adsets) = {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused, Vec::<String>::new());
        assert_eq!(f.violations, Vec::<String>::new());
        // Two accounts × two reports of five days, each polled twice.
        let range = |a: i64, b: i64| (day(a), day(b));
        let windows = [range(today - 9, today - 5), range(today - 4, today)];
        assert_eq!(f.time_ranges(), [windows.clone(), windows].concat());
        assert_eq!(f.runs.len(), 4);
        assert!(f.runs.values().all(|r| r.polls == 2 && !r.failed));
        let asked = &f.report_requests[0];
        assert_eq!(asked["level"], "ad");
        assert_eq!(asked["time_increment"], "1");
        assert!(
            asked["fields"].starts_with("account_id,campaign_id,adset_id,ad_id,"),
            "{asked:?}"
        );
        let attribution: Value =
            serde_json::from_str(&asked["action_attribution_windows"]).unwrap();
        // Deleted and archived ads are reported too.
        let filter = asked
            .get("filtering")
            .expect("a filtering on effective_status");
        let filter: Value = serde_json::from_str(filter).unwrap();
        assert_eq!(filter[0]["field"], "ad.effective_status", "{filter}");
        assert_eq!(filter[0]["operator"], "IN", "{filter}");
        let statuses = filter[0]["value"].as_array().expect("statuses");
        assert!(
            statuses.contains(&json!("DELETED")) && statuses.contains(&json!("ARCHIVED")),
            "{filter}"
        );
        assert_eq!(
            attribution,
            json!(["1d_click", "7d_click", "28d_click", "1d_view"])
        );
        // Five days × three ads a report, four rows a page.
        let rows = f
            .seen
            .iter()
            .filter(|s| s.method == "GET" && s.path.ends_with("/insights"));
        let rows: Vec<&meta_ads::Seen> = rows.collect();
        assert_eq!(rows.len(), 4 * 4);
        assert_eq!(
            rows.iter().filter(|s| param(s, "after").is_some()).count(),
            4 * 3
        );
        assert!(rows.iter().all(|s| param(s, "limit") == Some("4")));
        // A first pass filters on status only.
        let campaign_reads = f.seen.iter().filter(|s| s.path.ends_with("/campaigns"));
        for s in campaign_reads {
            assert_eq!(param(s, "filtering"), None, "{:?}", s.params);
            assert!(
                param(s, "effective_status")
                    .unwrap_or("")
                    .contains("ARCHIVED")
            );
        }
        let ads: usize = f.accounts.iter().map(|a| a.ads.len()).sum();
        let campaigns: usize = f.accounts.iter().map(|a| a.campaigns.len()).sum();
        let adsets: usize = f.accounts.iter().map(|a| a.adsets.len()).sum();
        (ads, campaigns, adsets)
    };
    assert_eq!(wharf.records_all(&sync, "insights").await, 10 * ads);
    assert_eq!(wharf.records_all(&sync, "campaigns").await, campaigns);
    assert_eq!(wharf.records_all(&sync, "adsets").await, adsets);
    assert_eq!(wharf.records_all(&sync, "ads").await, ads);
    assert_eq!(wharf.records_all(&sync, "ad_accounts").await, 2);

    // A day's record of an ad of the US account, as Meta's row says.
    let (ad, ad_name, campaign_name) = {
        let f = fake.lock().unwrap();
        let account = &f.accounts[1];
        let ad = &account.ads[0];
        let campaign = account
            .campaigns
            .iter()
            .find(|c| c["id"] == ad["campaign_id"]);
        let name = campaign.unwrap()["name"].clone();
        (
            ad["id"].as_str().unwrap().to_string(),
            ad["name"].clone(),
            name,
        )
    };
    let yesterday = day(today - 1);
    let key = format!("{yesterday}|{ad}");
    let found = wharf.records_where(&sync, "insights", &key).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["key"], key);
    let record = &found[0]["data"];
    let drawn = meta_ads::base(&yesterday, &ad);
    assert_eq!(record["id"], key);
    assert_eq!(record["date"], yesterday);
    assert_eq!(record["date_start"], yesterday);
    assert_eq!(record["level"], "ad");
    assert_eq!(record["ad_account_id"], "act_1002");
    assert_eq!(record["account_currency"], "USD");
    assert_eq!(record["ad_name"], ad_name);
    assert_eq!(record["campaign_name"], campaign_name);
    assert_eq!(record["impressions"], drawn.impressions, "{record}");
    assert_eq!(record["clicks"], drawn.clicks, "{record}");
    let spend = record["spend"].as_f64().unwrap_or(-1.0);
    assert!(
        (spend - drawn.spend_cents as f64 / 100.0).abs() < 1e-9,
        "{record}"
    );
    let actions = record["actions"].as_array().expect("actions");
    let purchase = actions
        .iter()
        .find(|a| a["action_type"] == "offsite_conversion.fb_pixel_purchase")
        .expect("purchases");
    assert_eq!(purchase["28d_click"], drawn.purchases, "{record}");
    assert_eq!(purchase["7d_click"], drawn.purchases * 8 / 10, "{record}");
    let read = wharf.records(&sync, "campaigns").await;
    assert!(
        read.iter()
            .any(|r| r["data"]["effective_status"] == "ARCHIVED")
    );
    let updated = read[0]["data"]["updated_time"].as_str().unwrap_or_default();
    assert!(
        updated.ends_with('Z') && updated.len() == 20,
        "UTC RFC 3339: {updated}"
    );

    // Later: attribution revised a day of the lookback, a campaign was
    // renamed, an ad was deleted (and its yesterday revised: deleted ads
    // still count late conversions), and Meta fails the next report run
    // and throttles once.
    let revised = day(today - 2);
    let (renamed, revised_ad, deleted_ad, seen_before, asked_before) = {
        let mut f = fake.lock().unwrap();
        let ad = f.accounts[0].ads[0]["id"].as_str().unwrap().to_string();
        f.revise(&revised, &ad, 123_456);
        let deleted = f.delete_ad(0, 2);
        f.revise(&yesterday, &deleted, 65_432);
        f.rename_campaign(0, 0, "Winter sale (renamed)");
        f.fail_next_runs = 1;
        f.throttle_next = 1;
        let campaign = f.accounts[0].campaigns[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        (campaign, ad, deleted, f.seen.len(), f.report_requests.len())
    };
    let second = wharf.run(&sync).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused, ["80004/2446079"]);
        assert_eq!(
            f.violations,
            Vec::<String>::new(),
            "no ad account call before the throttle's wait was over"
        );
        let throttled = f.throttled_at[0];
        let after = f.seen[seen_before..]
            .iter()
            .find(|s| s.at > throttled && s.status == 200 && s.path.starts_with("act_"))
            .expect("the ad account was read again");
        assert!(after.at.duration_since(throttled) >= f.throttle_wait());
        // The lookback's days only: a report per account, and the failed
        // one made again.
        let ranges = f.time_ranges()[asked_before..].to_vec();
        assert_eq!(ranges, vec![(day(today - 3), day(today)); 3]);
        assert_eq!(f.runs.values().filter(|r| r.failed).count(), 1);
        // Campaigns updated since the last pass.
        let reads = f.seen[seen_before..].iter();
        let reads: Vec<&meta_ads::Seen> = reads
            .filter(|s| s.path.ends_with("/campaigns") && s.status == 200)
            .collect();
        assert_eq!(reads.len(), 2, "one read per account");
        for s in reads {
            let filter: Value = serde_json::from_str(param(s, "filtering").unwrap()).unwrap();
            assert_eq!(filter[0]["field"], "campaign.updated_time");
            assert_eq!(filter[0]["operator"], "GREATER_THAN");
        }
    }
    let found = wharf.records_where(&sync, "campaigns", &renamed).await;
    assert_eq!(found[0]["data"]["name"], "Winter sale (renamed)");
    let found = wharf
        .records_where(&sync, "insights", &format!("{revised}|{revised_ad}"))
        .await;
    assert_eq!(found.len(), 1, "{found:?}");
    let spend = fake.lock().unwrap().spend(&revised, &revised_ad);
    assert_eq!(spend, 1234.56);
    assert_eq!(
        found[0]["data"]["spend"], spend,
        "the revised day replaced itself"
    );
    let found = wharf
        .records_where(&sync, "insights", &format!("{yesterday}|{deleted_ad}"))
        .await;
    assert_eq!(found.len(), 1, "{found:?}");
    let spend = fake.lock().unwrap().spend(&yesterday, &deleted_ad);
    assert_eq!(spend, 654.32);
    assert_eq!(
        found[0]["data"]["spend"], spend,
        "the deleted ad's revised spend landed"
    );
    assert_eq!(wharf.records_all(&sync, "insights").await, 10 * ads);
    assert!(
        second["counters"]["updated"].as_i64().unwrap_or(0) >= 1,
        "{second}"
    );

    // The token is in no record, log or answer.
    let mut everything = check.text.clone();
    for run in [&first, &second] {
        let id = run["id"].as_str().unwrap();
        let logs = wharf.get(&format!("/api/v1/runs/{id}/logs")).await;
        if run == &second {
            assert!(logs.text.contains("trying again"), "{}", logs.text);
        }
        everything.push_str(&logs.text);
    }
    for stream in STREAMS {
        everything.push_str(&json!(wharf.records(&sync, stream).await).to_string());
    }
    everything.push_str(&wharf.get(&format!("/api/v1/connections/{conn}")).await.text);
    assert!(!everything.contains(ACCESS_TOKEN), "the token leaked");

    // The token is revoked: Meta says 190; the run fails as an
    // authentication error, and so does the check.
    fake.lock().unwrap().revoke(ACCESS_TOKEN);
    let revoked = wharf.run(&sync).await;
    assert_eq!(revoked["status"], "failed", "{revoked}");
    assert_eq!(revoked["error_kind"], "auth", "{revoked}");
    let error = revoked["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("code 190") && error.contains("access_token"),
        "{revoked}"
    );
    assert!(!revoked.to_string().contains(ACCESS_TOKEN));
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], false, "{:?}", check.json);
    assert_eq!(check.json["kind"], "auth", "{:?}", check.json);
    assert!(!check.text.contains(ACCESS_TOKEN));
    let refused = fake.lock().unwrap().refused.last().cloned();
    assert_eq!(refused.as_deref(), Some("190/460"));
}
