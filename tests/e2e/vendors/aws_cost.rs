//! The `aws-cost` connector through `wharf serve` against a fake Cost
//! Explorer that checks every request's AWS Signature Version 4 with AWS's
//! published algorithm (its verifier is itself checked against AWS's
//! SigV4 test-suite vectors): costs by service and tag land as records, a
//! period's pages repeat the identical request with `NextPageToken`, the
//! next run reads again only the days AWS may still revise, a throttled
//! request is waited out, and a wrong secret key fails as an
//! authentication error without the key anywhere.

use serde_json::json;

use super::Wharf;
use super::fakes::aws_ce::{self, ACCESS_KEY_ID, ACCOUNTS, SECRET_ACCESS_KEY, SERVICES, TEAMS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_costs_by_service_and_tag_signed_by_the_host() {
    let (api, fake) = aws_ce::start(aws_ce::CostExplorer::default()).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("aws-cost").await;
    let config = json!({"base_url": api.origin(), "lookback_days": 9,
        "group_by": [{"type": "DIMENSION", "key": "SERVICE"}, {"type": "TAG", "key": "team"}]});
    let conn = wharf
        .connection(
            "aws-costs",
            &connector,
            config.clone(),
            json!({"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY}),
        )
        .await;
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    let sync = wharf
        .sync(json!({"name": "aws-costs", "source": conn, "streams": ["costs"], "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused, Vec::<String>::new());
        assert_eq!(f.violations, Vec::<String>::new());
        // The check's one day, then ten days in pages of seven: $0.03.
        assert_eq!(f.requests, 3);
        let (a, b) = (&f.bodies[1], &f.bodies[2]);
        assert_eq!(a["TimePeriod"], b["TimePeriod"], "pages repeat the request");
        assert!(b["NextPageToken"].is_string());
    }
    let days = 10;
    assert_eq!(
        wharf.records_all(&sync, "costs").await,
        days * SERVICES.len() * TEAMS.len()
    );
    let today = wharf_sdk::time::date(wharf_sdk::time::now_ms() / 1000);
    let service = SERVICES[2];
    let key = format!("{today}|{service}|data");
    let found = wharf.records_where(&sync, "costs", &key).await;
    assert_eq!(found.len(), 1, "{key}");
    let record = &found[0]["data"];
    let expected: f64 = ACCOUNTS
        .iter()
        .map(|a| aws_ce::amount(&today, service, a, "data"))
        .sum();
    let got = record["UnblendedCost"].as_f64().unwrap();
    assert!((got - expected).abs() < 0.0002, "{got} vs {expected}");
    assert_eq!(record["UnblendedCost_unit"], "USD");
    assert_eq!(record["estimated"], true);
    assert_eq!(record["team"], "data");
    let untagged = wharf
        .records_where(&sync, "costs", &format!("{today}|{service}|"))
        .await;
    assert!(untagged.iter().any(|r| r["data"]["team"] == ""));

    // The next run reads again the last three days, once throttled.
    fake.lock().unwrap().throttle_next = 1;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.refused, vec!["LimitExceededException".to_string()]);
        assert_eq!(f.requests, 4);
        let from = wharf_sdk::time::date(wharf_sdk::time::now_ms() / 1000 - 2 * 86_400);
        assert_eq!(f.bodies[3]["TimePeriod"]["Start"], json!(from));
    }

    // A wrong secret key: AWS refuses the signature; the run says so.
    let wrong = wharf
        .connection(
            "aws-wrong",
            &connector,
            config,
            json!({"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": "not-the-secret-key"}),
        )
        .await;
    let check = wharf.check(&wrong).await;
    assert_eq!(check.json["ok"], false);
    assert_eq!(check.json["kind"], "auth", "{:?}", check.json);
    assert!(!check.json.to_string().contains("not-the-secret-key"));
    assert!(!check.json.to_string().contains(SECRET_ACCESS_KEY));
    assert_eq!(
        fake.lock().unwrap().refused.last().map(String::as_str),
        Some("InvalidSignatureException")
    );
}
