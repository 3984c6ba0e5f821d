//! The `xero` connector through `wharf serve` against a fake Xero whose
//! every Accounting API request is checked against Xero's OpenAPI
//! description: connected by the authorization code flow (Basic client
//! authentication, rotating refresh tokens), a consent covering two
//! organisations refused until one is chosen, every stream read in full
//! within Xero's limits, then incrementally by `If-Modified-Since` after
//! the access token expired; webhooks' intent to receive answered 200/401
//! with no body and an event read back into its record.
//!
//! And the worked example in `examples/xero-carbon/`: bank transactions →
//! the `jq` mapper (account code → emission factor → kg CO2e) → the
//! records store, a transaction without a factor refused with its key, and
//! a Slack message when the run ends, through a notification subscription.

use serde_json::{Value, json};

use super::Wharf;
use super::fakes::slack::{self, BOT_TOKEN};
use super::fakes::xero::{self, CLIENT_ID, CLIENT_SECRET, WEBHOOK_KEY};
use crate::support::Upstream;

const STREAMS: [&str; 5] = [
    "invoices",
    "bank_transactions",
    "contacts",
    "accounts",
    "journals",
];

fn config(api: &Upstream, extra: Value) -> Value {
    let mut c = json!({"base_url": api.origin(),
        "auth_url": api.url("/identity/connect/authorize"), "token_url": api.url("/connect/token")});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

/// A Xero connection, connected, reading organisation 0.
async fn connected(wharf: &Wharf, api: &Upstream, tenant: &str) -> String {
    let connector = wharf.upload("xero").await;
    let conn = wharf
        .connection(
            "xero",
            &connector,
            config(api, json!({})),
            json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_KEY}),
        )
        .await;
    wharf.connect_oauth(&conn).await;
    // The consent covers two organisations: check names them.
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], false, "{:?}", check.json);
    let message = check.json.to_string();
    assert!(
        message.contains("Demo Company (NZ)") && message.contains("Ridgeway Bikes"),
        "{message}"
    );
    let a = wharf
        .call(
            "PATCH",
            &format!("/api/v1/connections/{conn}"),
            Some(json!({"config": config(api, json!({"tenant_id": tenant}))})),
        )
        .await;
    assert!(a.status.is_success(), "{:?}", a.json);
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xero_streams_in_full_then_by_if_modified_since_and_webhooks() {
    let (api, fake) = xero::start(xero::demo()).await;
    let tenant = fake.lock().unwrap().tenant_id(0);
    let wharf = Wharf::start().await;
    let conn = connected(&wharf, &api, &tenant).await;

    let sync = wharf
        .sync(json!({"name": "xero-books", "source": conn, "streams": STREAMS, "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let expected = {
        let f = fake.lock().unwrap();
        let o = &f.orgs[0];
        [
            o.invoices.len(),
            o.bank_transactions.len(),
            o.contacts.len(),
            o.accounts.len(),
            o.journals.len(),
        ]
    };
    for (stream, n) in STREAMS.iter().zip(expected) {
        assert_eq!(wharf.records_all(&sync, stream).await, n, "{stream}");
    }
    let invoices = wharf.records(&sync, "invoices").await;
    let first = &invoices[0]["data"];
    assert!(
        first["UpdatedDateUTC"].as_str().unwrap().ends_with('Z'),
        "Xero's /Date(…)/ as RFC 3339: {first}"
    );
    assert!(first["Date"].as_str().unwrap().starts_with("20"), "{first}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert_eq!(f.refused_429, 0, "{:?}", f.refusals);
        assert!(f.max_calls_in_window(0) <= 60);
        assert!(f.max_in_flight <= 5);
        // Organisation 1 was never read; every call a GET that succeeded.
        assert!(f.seen.iter().all(|s| s.tenant != Some(1)));
        let api_calls: Vec<_> = f.seen.iter().filter(|s| s.tenant.is_some()).collect();
        assert!(api_calls.len() >= 9, "{}", api_calls.len());
        assert!(
            api_calls
                .iter()
                .all(|s| s.method == "GET" && s.status == 200),
            "{:?}",
            api_calls
                .iter()
                .find(|s| s.status != 200)
                .map(|s| (&s.uri, s.status))
        );
    }

    // Half an hour later: the token expired; one transaction changed, one
    // is new.
    let (changed, added) = {
        let mut f = fake.lock().unwrap();
        f.expire_access_tokens();
        let now = xero::now_ms();
        f.touch_bank_transaction(0, 7, now);
        let changed = f.orgs[0].bank_transactions[7]["BankTransactionID"].clone();
        let added = f.add_bank_transaction(0, "449", 12_345, now);
        (changed, added)
    };
    let refreshes = fake.lock().unwrap().refreshes;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    {
        let f = fake.lock().unwrap();
        assert_eq!(
            f.refreshes,
            refreshes + 1,
            "the expired token was refreshed"
        );
        assert!(
            f.if_modified_since.iter().all(|(_, form)| *form == "iso"),
            "{:?}",
            f.if_modified_since
        );
        assert!(!f.if_modified_since.is_empty());
        assert_eq!(f.violations, Vec::<String>::new());
    }
    let counters = &run["counters"];
    // The changed and the new transaction, the new journal, and the
    // newest record of each stream again (Xero compares to the second).
    let moved = counters["created"].as_i64().unwrap() + counters["updated"].as_i64().unwrap();
    assert!((3..=8).contains(&moved), "{run}");
    let banks = wharf.records(&sync, "bank_transactions").await;
    assert!(banks.iter().any(|r| r["key"] == json!(added)));
    assert!(banks.iter().any(|r| r["key"] == changed));

    // Webhooks: Xero's intent to receive, then an event.
    let path = wharf.webhook(&conn).await;
    let intent = xero::intent_to_receive();
    let signed = |body: &[u8]| vec![("x-xero-signature", xero::sign(body))];
    let a = wharf.deliver(&path, &signed(&intent), &intent).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.text, "", "Xero wants no body");
    let forged = vec![("x-xero-signature", xero::sign(b"something else"))];
    let a = wharf.deliver(&path, &forged, &intent).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.text, "");

    let invoice = {
        let mut f = fake.lock().unwrap();
        f.touch_invoice(0, 3, xero::now_ms());
        f.orgs[0].invoices[3]["Reference"] = json!("changed by webhook");
        f.orgs[0].invoices[3]["InvoiceID"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let event = xero::event_at(&api.origin(), &tenant, &invoice, "INVOICE", "UPDATE");
    let a = wharf.deliver(&path, &signed(&event), &event).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let mut found = false;
    for _ in 0..100 {
        let records = wharf.records_where(&sync, "invoices", &invoice).await;
        if records
            .iter()
            .any(|r| r["key"] == json!(invoice) && r["data"]["Reference"] == "changed by webhook")
        {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(found, "the event's invoice was read back");

    // No token or secret in any record or log.
    let logs = wharf
        .get(&format!(
            "/api/v1/runs/{}/logs",
            run["id"].as_str().unwrap()
        ))
        .await;
    let everything = format!(
        "{}{}",
        logs.text,
        serde_json::to_string(&wharf.records(&sync, "invoices").await).unwrap()
    );
    let issued = fake.lock().unwrap().issued.clone();
    assert!(!issued.is_empty());
    for token in &issued {
        assert!(!everything.contains(token.as_str()), "a token leaked");
    }
    assert!(!everything.contains(CLIENT_SECRET));

    // The organisation disconnects the app: the run fails as an
    // authentication error, in Xero's words.
    fake.lock().unwrap().disconnect(0);
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "auth", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("Forbidden"),
        "{run}"
    );
}

/// Xero's limits under a burst: 70 webhook events at once, each read back
/// with a call of its own. The fake counts as Xero does, a rolling minute
/// and calls at once per organisation, and refuses past either; the host
/// keeps the connection within both, so nothing is refused and the calls
/// past 60 wait for the minute to slide (a clock-aligned window would let
/// them through at the next minute's start, inside Xero's rolling one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xero_limits_hold_under_a_burst_of_webhook_events() {
    let (api, fake) = xero::start(xero::demo()).await;
    let tenant = fake.lock().unwrap().tenant_id(0);
    let wharf = Wharf::start().await;
    let conn = connected(&wharf, &api, &tenant).await;
    let path = wharf.webhook(&conn).await;
    let (before, ids) = {
        let f = fake.lock().unwrap();
        let ids: Vec<String> = f.orgs[0].invoices[..70]
            .iter()
            .map(|i| i["InvoiceID"].as_str().unwrap().to_string())
            .collect();
        (f.calls.len(), ids)
    };
    let deliveries = ids.iter().map(|id| {
        let event = xero::event_at(&api.origin(), &tenant, id, "INVOICE", "UPDATE");
        let signed = vec![("x-xero-signature", xero::sign(&event))];
        let (wharf, path) = (&wharf, &path);
        async move {
            let a = wharf.deliver(path, &signed, &event).await;
            (a.status, a.text)
        }
    });
    let answers = futures::future::join_all(deliveries).await;
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(refused.is_empty(), "{refused:?}");
    let started = std::time::Instant::now();
    loop {
        let done = fake.lock().unwrap().calls.len() - before;
        if done >= ids.len() {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(150),
            "{done} of {} events read",
            ids.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let f = fake.lock().unwrap();
    assert_eq!(f.refusals, Vec::new(), "Xero refused none");
    assert!(f.max_in_flight <= 5, "{} calls at once", f.max_in_flight);
    // The calls past the minute's 60 (the connection's earlier ones
    // included) waited for the first of the minute to leave it.
    let calls: Vec<std::time::Instant> = f.calls.iter().map(|c| c.1).collect();
    for (i, at) in calls.iter().enumerate().skip(60) {
        let gap = at.duration_since(calls[i - 60]);
        assert!(
            gap >= std::time::Duration::from_secs(59),
            "call {i} came {gap:?} after call {}",
            i - 60
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_xero_carbon_bank_transactions_to_emissions_with_a_slack_note() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/xero-carbon");
    let program = std::fs::read_to_string(example.join("emissions.jq")).unwrap();
    let factors: Value =
        serde_json::from_str(&std::fs::read_to_string(example.join("factors.json")).unwrap())
            .unwrap();

    let mut books = xero::demo();
    // One spend on an account the table does not know.
    let poisoned = {
        let o = &mut books.orgs[0];
        let tx = o
            .bank_transactions
            .iter_mut()
            .find(|t| t["Type"] == "SPEND")
            .unwrap();
        tx["LineItems"][0]["AccountCode"] = json!("999");
        tx["BankTransactionID"].as_str().unwrap().to_string()
    };
    let spend_lines: usize = books.orgs[0]
        .bank_transactions
        .iter()
        .filter(|t| t["Type"] == "SPEND" && t["Status"] == "AUTHORISED")
        .map(|t| t["LineItems"].as_array().unwrap().len())
        .sum();
    let sample = books.orgs[0]
        .bank_transactions
        .iter()
        .find(|t| t["Type"] == "SPEND" && t["BankTransactionID"] != json!(poisoned))
        .unwrap()
        .clone();
    let (api, fake) = xero::start(books).await;
    let (chat, slack_fake) = slack::start(slack::Slack::workspace()).await;
    let tenant = fake.lock().unwrap().tenant_id(0);
    let wharf = Wharf::start().await;
    let xero_conn = connected(&wharf, &api, &tenant).await;

    let jq = wharf.upload("jq").await;
    let mapper = wharf
        .connection(
            "emissions",
            &jq,
            json!({"lookups": {"factors": factors},
                   "rules": [{"stream": "bank_transactions", "output_stream": "emissions", "key": "/id", "program": program}],
                   "unmatched": "drop"}),
            json!({}),
        )
        .await;
    assert_eq!(wharf.check(&mapper).await.json["ok"], true);
    let slack_connector = wharf.upload("slack").await;
    let alerts = wharf
        .connection(
            "carbon-alerts",
            &slack_connector,
            json!({"channel": "#carbon", "base_url": chat.origin(), "webhook_origin": chat.origin()}),
            json!({"bot_token": BOT_TOKEN}),
        )
        .await;
    let sub = wharf
        .post(
            "/api/v1/webhooks",
            json!({"connection": alerts, "events": ["run.succeeded", "run.failed"],
                   "template": "Emissions from Xero: sync {data.sync_name} {data.status}, {data.counters.created} entries, {data.counters.rejected} refused"}),
        )
        .await;
    assert_eq!(sub.status, 201, "{:?}", sub.json);
    assert_eq!(sub.json["connection"], json!(alerts));
    // A URL and a connection at once, or a source as the target, are refused.
    let both = wharf
        .post(
            "/api/v1/webhooks",
            json!({"url": "https://example.com/hook", "connection": alerts, "events": ["run.failed"]}),
        )
        .await;
    assert_eq!(both.status, 422, "{:?}", both.json);
    let source_target = wharf
        .post(
            "/api/v1/webhooks",
            json!({"connection": xero_conn, "events": ["run.failed"]}),
        )
        .await;
    assert_eq!(source_target.status, 422, "{:?}", source_target.json);
    assert!(source_target.json.to_string().contains("not a destination"));

    let sync = wharf
        .sync(
            json!({"name": "xero-emissions", "source": xero_conn, "streams": ["bank_transactions"],
                     "mapper": mapper, "mode": "incremental", "destination": "records",
                     "schedule": {"cron": "0 * * * *"}, "error_threshold": 10}),
        )
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counters"]["rejected"], 1, "{run}");
    let errors = wharf.rejected(&run).await;
    assert_eq!(errors[0]["key"], json!(poisoned), "{errors:?}");
    assert_eq!(errors[0]["stream"], "bank_transactions");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("no emission factor for account 999"),
        "{errors:?}"
    );
    assert_eq!(wharf.records_all(&sync, "emissions").await, spend_lines - 1);
    let emissions = wharf.records(&sync, "emissions").await;
    let tx = sample["BankTransactionID"].as_str().unwrap();
    let entry = emissions
        .iter()
        .find(|r| r["key"] == json!(format!("{tx}/0")))
        .expect("the sample's entry");
    let line = &sample["LineItems"][0];
    let factor = factors[line["AccountCode"].as_str().unwrap()]["kg_per_unit"]
        .as_f64()
        .unwrap();
    let kg = (line["LineAmount"].as_f64().unwrap() * factor * 1000.0).round() / 1000.0;
    assert_eq!(entry["data"]["kg_co2e"].as_f64().unwrap(), kg, "{entry}");
    assert_eq!(
        entry["data"]["scope"],
        factors[line["AccountCode"].as_str().unwrap()]["scope"]
    );

    // The subscription posts to Slack when the run ends.
    let mut posted = Vec::new();
    for _ in 0..200 {
        posted = slack_fake
            .lock()
            .unwrap()
            .posted_to("C0CARBON1")
            .iter()
            .map(|p| p.text.clone().unwrap_or_default())
            .collect();
        if !posted.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        posted,
        vec![format!(
            "Emissions from Xero: sync xero-emissions succeeded, {} entries, 1 refused",
            spend_lines - 1
        )]
    );
    assert_eq!(slack_fake.lock().unwrap().violations, Vec::<String>::new());
}
