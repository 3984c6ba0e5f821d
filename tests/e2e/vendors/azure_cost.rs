//! The `azure-cost` connector through `wharf serve` against a fake
//! Microsoft Entra and Cost Management whose every query is checked
//! against Microsoft's OpenAPI description: the host gets the token by
//! client credentials (and again when Azure says it expired mid-run),
//! costs by service and tag land as records read by column name, a
//! window's pages follow `nextLink` with the same body, the next run
//! reads again only the days Azure may still revise and waits out a
//! throttled query as long as its longest `x-ms-ratelimit-*-retry-after`
//! asks; a resource group scope in full mode; and the refusals (no role
//! on the scope, a wrong secret, an unknown dimension, an unknown
//! subscription) in Azure's words, with no secret or token anywhere.

use std::time::Duration;

use serde_json::{Value, json};
use wharf_sdk::time::{civil, date, days, now_ms};

use super::Wharf;
use super::fakes::azure_cost::{
    self, CLIENT_ID, CLIENT_SECRET, CURRENCY, OUTSIDER_ID, OUTSIDER_SECRET, RESOURCE_GROUPS,
    SERVICES, SUBSCRIPTION_ID, TEAMS, TENANT_ID,
};
use crate::support::Upstream;

fn config(api: &Upstream, extra: Value) -> Value {
    let mut c = json!({"tenant_id": TENANT_ID, "scope": format!("/subscriptions/{SUBSCRIPTION_ID}"),
        "base_url": api.origin(), "login_url": api.origin()});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

fn secrets(id: &str, secret: &str) -> Value {
    json!({"oauth_client_id": id, "oauth_client_secret": secret})
}

/// Today as a day number, and `YYYY-MM-DD` of a day number.
fn today() -> i64 {
    now_ms().div_euclid(86_400_000)
}
fn day(n: i64) -> String {
    date(n * 86_400)
}

/// The queries a pass over `[from, end)` makes: one calendar-month window
/// at a time, `rows_per_day` rows a day, 25 rows a page.
fn pages(from: i64, end: i64, rows_per_day: usize) -> usize {
    let (mut f, mut n) = (from, 0);
    while f < end {
        let (y, m, _) = civil(f);
        let to = days(y + i64::from(m / 12), m % 12 + 1, 1).min(end);
        n += ((to - f) as usize * rows_per_day).div_ceil(25).max(1);
        f = to;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_costs_by_service_and_tag_with_the_hosts_entra_token() {
    let (api, fake) = azure_cost::start(azure_cost::CostManagement::default()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("azure-cost").await;
    let groups =
        json!([{"type": "Dimension", "name": "ServiceName"}, {"type": "TagKey", "name": "team"}]);
    let conn = wharf
        .connection(
            "azure-costs",
            &connector,
            config(&api, json!({"lookback_days": 9, "group_by": groups})),
            secrets(CLIENT_ID, CLIENT_SECRET),
        )
        .await;
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    assert_eq!(
        fake.lock().unwrap().grants,
        1,
        "one token, by client credentials"
    );

    let streams = wharf.discover(&conn).await;
    let costs = streams
        .iter()
        .find(|s| s["name"] == "costs")
        .expect("costs");
    assert_eq!(costs["key_field"], "id");
    assert_eq!(costs["cursor_field"], "date");
    let properties = &costs["schema"]["properties"];
    for field in ["date", "ServiceName", "team", "Cost", "currency"] {
        assert!(properties.get(field).is_some(), "{field}: {properties}");
    }

    let sync = wharf
        .sync(json!({"name": "azure-costs", "source": conn, "streams": ["costs"], "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let mut runs = vec![run["id"].clone()];
    let t = today();
    let first_pass = {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.refused, Vec::<String>::new());
        // The check's query, then ten days by month window and page.
        let rows_per_day = SERVICES.len() * TEAMS.len();
        assert_eq!(f.answered.len(), 1 + pages(t - 9, t + 1, rows_per_day));
        assert!(
            f.answered.iter().any(|(_, paged)| *paged),
            "a nextLink was followed"
        );
        let (body, _) = &f.answered[1];
        assert_eq!(body["type"], "ActualCost");
        assert_eq!(body["dataset"]["granularity"], "Daily");
        assert_eq!(
            body["timePeriod"]["from"],
            format!("{}T00:00:00Z", day(t - 9))
        );
        f.answered.len()
    };
    assert_eq!(
        wharf.records_all(&sync, "costs").await,
        10 * SERVICES.len() * TEAMS.len()
    );
    let sum = |d: &str, service: &str, team: &str| -> f64 {
        let f = fake.lock().unwrap();
        let cells = RESOURCE_GROUPS
            .iter()
            .map(|rg| f.cost(d, service, rg, team));
        cells.sum::<u64>() as f64 / 1e4
    };
    let (service, today_text) = (SERVICES[2], day(t));
    let key = format!("{today_text}|{service}|data|{CURRENCY}");
    let found = wharf.records_where(&sync, "costs", &key).await;
    assert_eq!(found.len(), 1, "{key}");
    let record = &found[0]["data"];
    let got = record["Cost"].as_f64().unwrap();
    let expected = sum(&today_text, service, "data");
    assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    assert_eq!(record["date"], json!(today_text));
    assert_eq!(record["end"], json!(day(t + 1)));
    assert_eq!(record["team"], "data");
    assert_eq!(record["ServiceName"], service);
    assert_eq!(record["currency"], CURRENCY);
    let untagged = format!("{today_text}|{service}||{CURRENCY}");
    let untagged = wharf.records_where(&sync, "costs", &untagged).await;
    assert_eq!(untagged.len(), 1);
    assert_eq!(untagged[0]["data"]["team"], "", "a null TagValue is \"\"");

    // Yesterday's costs are revised; the next run reads again the last
    // three days, is throttled once, and its token expires mid-run.
    let yesterday = day(t - 1);
    let grants = {
        let mut f = fake.lock().unwrap();
        f.revisions.insert(yesterday.clone(), 50_000);
        f.throttle_next = 1;
        f.expire_after = Some(1);
        f.grants
    };
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run["id"].clone());
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.refused, ["429", "ExpiredAuthenticationToken"]);
        assert_eq!(f.grants, grants + 1, "the expired token was renewed");
        let throttled = f.seen.iter().position(|s| s.status == 429).unwrap();
        let (refused, again) = (&f.seen[throttled], &f.seen[throttled + 1]);
        assert_eq!(again.uri, refused.uri, "the same query again");
        let waited = again.at - refused.at;
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_secs(6),
            "the entity quota's 3 s, the longest retry-after: {waited:?}"
        );
        let from = format!("{}T00:00:00Z", day(t - 2));
        for (body, _) in &f.answered[first_pass..] {
            assert!(
                body["timePeriod"]["from"].as_str().unwrap() >= from.as_str(),
                "{body}"
            );
        }
        assert_eq!(f.answered[first_pass].0["timePeriod"]["from"], json!(from));
    }
    assert!(run["counters"]["updated"].as_i64().unwrap() >= 12, "{run}");
    let key = format!("{yesterday}|{service}|web|{CURRENCY}");
    let revised = wharf.records_where(&sync, "costs", &key).await;
    let got = revised[0]["data"]["Cost"].as_f64().unwrap();
    let expected = sum(&yesterday, service, "web");
    assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");

    // No token or secret in any record, log or check answer.
    let mut everything = check.text.clone();
    for id in &runs {
        let logs = wharf
            .get(&format!("/api/v1/runs/{}/logs", id.as_str().unwrap()))
            .await;
        everything.push_str(&logs.text);
    }
    everything.push_str(&serde_json::to_string(&wharf.records(&sync, "costs").await).unwrap());
    let issued = fake.lock().unwrap().issued.clone();
    assert_eq!(issued.len(), 2);
    for token in &issued {
        assert!(!everything.contains(token.as_str()), "a token leaked");
    }
    assert!(!everything.contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_resource_group_in_full_and_refusals_in_azures_words() {
    let (api, fake) = azure_cost::start(azure_cost::CostManagement::default()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("azure-cost").await;
    let rg = RESOURCE_GROUPS[0];
    // Five days back; an incremental pass would start again three days
    // before the last one ended, a full one starts from scratch.
    let scoped = json!({"scope": format!("/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}"),
        "cost_type": "AmortizedCost", "metrics": ["Cost", "CostUSD"], "lookback_days": 5,
        "group_by": [{"type": "Dimension", "name": "ServiceName"}]});
    let conn = wharf
        .connection(
            "azure-rg",
            &connector,
            config(&api, scoped),
            secrets(CLIENT_ID, CLIENT_SECRET),
        )
        .await;
    assert_eq!(wharf.check(&conn).await.json["ok"], true);
    let sync = wharf
        .sync(json!({"name": "azure-rg", "source": conn, "streams": ["costs"], "mode": "full", "destination": "records"}))
        .await;
    let t = today();
    let lookback = json!(format!("{}T00:00:00Z", day(t - 5)));
    for _ in 0..2 {
        let before = fake.lock().unwrap().answered.len();
        let run = wharf.run(&sync).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(wharf.records_all(&sync, "costs").await, 6 * SERVICES.len());
        let f = fake.lock().unwrap();
        let (first, _) = &f.answered[before];
        assert_eq!(first["type"], "AmortizedCost");
        assert_eq!(
            first["timePeriod"]["from"], lookback,
            "a full run reads it all"
        );
        let aggregation = first["dataset"]["aggregation"].as_object().unwrap();
        assert_eq!(aggregation.len(), 2);
    }
    let today_text = day(t);
    let key = format!("{today_text}|Storage|{CURRENCY}");
    let found = wharf.records_where(&sync, "costs", &key).await;
    assert_eq!(found.len(), 1, "{key}");
    let (cost, usd) = {
        let f = fake.lock().unwrap();
        let cells: Vec<u64> = TEAMS
            .iter()
            .map(|team| f.cost(&today_text, "Storage", rg, team))
            .collect();
        let usd: u64 = cells
            .iter()
            .map(|n| azure_cost::column("CostUSD", *n))
            .sum();
        (cells.iter().sum::<u64>() as f64 / 1e4, usd as f64 / 1e4)
    };
    let data = &found[0]["data"];
    assert!(
        (data["Cost"].as_f64().unwrap() - cost).abs() < 1e-6,
        "{data}"
    );
    assert!(
        (data["CostUSD"].as_f64().unwrap() - usd).abs() < 1e-6,
        "{data}"
    );

    // An app of the tenant without a role on the scope: Azure's 403.
    let outsider = wharf
        .connection(
            "azure-outsider",
            &connector,
            config(&api, json!({})),
            secrets(OUTSIDER_ID, OUTSIDER_SECRET),
        )
        .await;
    let a = wharf.check(&outsider).await;
    assert_eq!(
        (a.json["ok"].clone(), a.json["kind"].clone()),
        (json!(false), json!("auth")),
        "{:?}",
        a.json
    );
    let message = a.json["message"].as_str().unwrap();
    assert!(
        message.contains("AuthorizationFailed") && message.contains("does not have authorization"),
        "{message}"
    );
    assert!(message.contains("Cost Management Reader"), "{message}");

    // A wrong secret: Entra refuses the client; the host says so.
    let guess = "Zz9~not.the_secret";
    let wrong = wharf
        .connection(
            "azure-wrong",
            &connector,
            config(&api, json!({})),
            secrets(CLIENT_ID, guess),
        )
        .await;
    let a = wharf.check(&wrong).await;
    assert_eq!(
        a.status,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        a.text
    );
    assert!(a.text.contains("invalid_client"), "{}", a.text);
    assert!(
        !a.text.contains(guess) && !a.text.contains(CLIENT_SECRET),
        "{}",
        a.text
    );

    // A dimension Azure does not know, and a subscription it does not have.
    let owner = json!({"group_by": [{"type": "Dimension", "name": "owner"}]});
    let bad = wharf
        .connection(
            "azure-owner",
            &connector,
            config(&api, owner),
            secrets(CLIENT_ID, CLIENT_SECRET),
        )
        .await;
    let a = wharf.check(&bad).await;
    assert_eq!(a.json["kind"], "config", "{:?}", a.json);
    let message = a.json["message"].as_str().unwrap();
    assert!(
        message.contains("Invalid dataset grouping: 'owner'"),
        "{message}"
    );
    let elsewhere = json!({"scope": "/subscriptions/00000000-0000-0000-0000-000000000000"});
    let gone = wharf
        .connection(
            "azure-gone",
            &connector,
            config(&api, elsewhere),
            secrets(CLIENT_ID, CLIENT_SECRET),
        )
        .await;
    let a = wharf.check(&gone).await;
    assert_eq!(a.json["kind"], "config", "{:?}", a.json);
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains("SubscriptionNotFound"),
        "{:?}",
        a.json
    );

    // A scope that is not one is refused before any query.
    let queries = fake.lock().unwrap().seen.len();
    let typo = json!({"scope": format!("/subscription/{SUBSCRIPTION_ID}")});
    let typo = wharf
        .connection(
            "azure-typo",
            &connector,
            config(&api, typo),
            secrets(CLIENT_ID, CLIENT_SECRET),
        )
        .await;
    let a = wharf.check(&typo).await;
    assert_eq!(a.json["kind"], "config", "{:?}", a.json);
    assert!(
        a.json["message"]
            .as_str()
            .unwrap()
            .contains("not a Cost Management scope"),
        "{:?}",
        a.json
    );
    let f = fake.lock().unwrap();
    let queried = f.seen[queries..]
        .iter()
        .any(|s| s.uri.contains("CostManagement"));
    assert!(!queried, "no query for a malformed scope");
    assert_eq!(f.violations, Vec::<String>::new());
}
