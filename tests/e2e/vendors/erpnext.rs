//! The `erpnext` connector through `wharf serve` against two fake Frappe
//! sites: a bad key reported as `auth` in Frappe's words, DocTypes
//! discovered with their fields' schema, full and incremental syncs into
//! the records store (offset pages, the `modified` filter with its
//! lookback, the site's 429 waited out), documents upserted into another
//! site with Frappe's refusals as per-record rejections, and signed
//! webhooks turned into records while forged ones are refused.

use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::frappe::{self, KEY, SECRET};

pub(super) const HOOK_SECRET: &str = "frappe-webhook-secret-31";

fn config(site: &crate::support::Upstream, doctypes: &[&str]) -> Value {
    json!({"base_url": site.origin(), "doctypes": doctypes, "page_size": 3})
}

pub(super) fn secrets(secret: &str) -> Value {
    json!({"api_key": KEY, "api_secret": secret, "webhook_secret": HOOK_SECRET})
}

/// What Frappe sends: base64 HMAC-SHA256 of the raw body.
pub(super) fn signature(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn decoded(uri: &str) -> String {
    percent_encoding::percent_decode_str(uri)
        .decode_utf8_lossy()
        .replace('+', " ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erpnext_source_destination_and_webhooks() {
    let (site, state) = frappe::start(frappe::erpnext_site()).await;
    let mut empty = frappe::erpnext_site();
    empty.docs.insert("Customer".into(), Vec::new());
    let (other, other_state) = frappe::start(empty).await;
    let wharf = Wharf::start().await;
    let connector = wharf.upload("erpnext").await;

    // A wrong secret: `auth`, in Frappe's words, the secret nowhere.
    let bad = wharf
        .connection(
            "erp-bad",
            &connector,
            config(&site, &[]),
            secrets("wrong-secret-77"),
        )
        .await;
    let a = wharf.check(&bad).await;
    assert_eq!(a.json["ok"], false, "{:?}", a.json);
    assert_eq!(a.json["kind"], "auth", "{:?}", a.json);
    let message = a.json["message"].as_str().unwrap();
    assert!(
        message.contains("HTTP 401: AuthenticationError"),
        "{message}"
    );
    assert!(!message.contains("wrong-secret-77"), "{message}");

    // Every DocType the key may read, child tables left out.
    let all = wharf
        .connection("erp-all", &connector, config(&site, &[]), secrets(SECRET))
        .await;
    assert_eq!(wharf.check(&all).await.json["ok"], true);
    let names: Vec<String> = wharf
        .discover(&all)
        .await
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Customer", "DocType", "ToDo"]);

    // Configured DocTypes come with their fields' schema.
    let erp = wharf
        .connection(
            "erp",
            &connector,
            config(&site, &["Customer", "ToDo"]),
            secrets(SECRET),
        )
        .await;
    let streams = wharf.discover(&erp).await;
    let customer = streams.iter().find(|s| s["name"] == "Customer").unwrap();
    assert_eq!(customer["key_field"], "name");
    assert_eq!(customer["cursor_field"], "modified");
    let schema = &customer["schema"]["properties"];
    assert_eq!(
        schema["customer_type"]["enum"],
        json!(["Company", "Individual", "Partnership", null])
    );
    assert_eq!(schema["disabled"]["type"], json!(["integer", "null"]));
    assert!(schema.get("column_break_1").is_none());

    // A full read: offset pages of three, oldest first; the site's rate
    // limiter refuses the first request and is waited out.
    state.lock().unwrap().throttle = 1;
    let sync = wharf
        .sync(
            json!({"name": "erp-records", "source": erp, "streams": ["Customer", "ToDo"],
            "mode": "incremental", "destination": "records"}),
        )
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let customers = wharf.records(&sync, "Customer").await;
    assert_eq!(customers.len(), 7);
    assert_eq!(customers[0]["key"], "CUST-0001");
    assert_eq!(customers[0]["data"]["customer_type"], "Company");
    assert_eq!(wharf.records(&sync, "ToDo").await.len(), 2);
    {
        let s = state.lock().unwrap();
        let throttled = s.seen.iter().position(|r| r.status == 429).expect("a 429");
        let next = &s.seen[throttled + 1];
        assert_eq!(next.uri, s.seen[throttled].uri, "the same request again");
        assert!(
            next.at - s.seen[throttled].at >= Duration::from_millis(900),
            "Retry-After: 1 was honoured"
        );
        let pages: Vec<String> = s
            .seen
            .iter()
            .filter(|r| r.uri.starts_with("/api/resource/Customer?") && r.status == 200)
            .map(|r| decoded(&r.uri))
            .collect();
        assert_eq!(pages.len(), 3, "{pages:?}");
        for (page, start) in pages.iter().zip([0, 3, 6]) {
            assert!(page.contains(&format!("limit_start={start}")), "{page}");
            assert!(page.contains("limit_page_length=3"), "{page}");
            assert!(page.contains("order_by=modified asc, name asc"), "{page}");
            assert!(
                !page.contains("filters="),
                "a first run reads everything: {page}"
            );
        }
    }

    // Incremental: only what changed since the last `modified`, less the
    // lookback minute.
    {
        let mut s = state.lock().unwrap();
        s.seen.clear();
        s.edit(
            "Customer",
            "CUST-0003",
            "customer_name",
            json!("Customer Three Ltd"),
        );
        let new =
            json!({"name": "CUST-0008", "customer_name": "Customer 8", "customer_type": "Company"});
        s.add("Customer", new.as_object().unwrap().clone());
    }
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let customers = wharf.records(&sync, "Customer").await;
    assert_eq!(customers.len(), 8);
    let three = customers.iter().find(|r| r["key"] == "CUST-0003").unwrap();
    assert_eq!(three["data"]["customer_name"], "Customer Three Ltd");
    {
        let s = state.lock().unwrap();
        let first = s
            .seen
            .iter()
            .find(|r| r.uri.starts_with("/api/resource/Customer?"))
            .map(|r| decoded(&r.uri))
            .unwrap();
        assert!(
            first.contains(r#"filters=[["modified",">=","2024-04-03 16:19:11.402117"]]"#),
            "{first}"
        );
    }
    // The three documents inside the lookback minute came again, unchanged.
    let counters = &run["counters"];
    assert_eq!(
        (
            counters["created"].as_i64(),
            counters["updated"].as_i64(),
            counters["unchanged"].as_i64()
        ),
        (Some(1), Some(1), Some(3)),
        "{run}"
    );

    // Into another site: upserts by name; Frappe's refusal is a rejection
    // of that document only.
    let bad_customer = json!({"name": "CUST-0099", "customer_name": "Martian", "customer_type": "Alien",
        "modified": "2024-04-05 00:00:00"});
    state
        .lock()
        .unwrap()
        .docs
        .get_mut("Customer")
        .unwrap()
        .push(bad_customer.as_object().unwrap().clone());
    let target = wharf
        .connection(
            "erp-target",
            &connector,
            config(&other, &["Customer"]),
            secrets(SECRET),
        )
        .await;
    let copy = wharf
        .sync(json!({"name": "erp-copy", "source": erp, "streams": ["Customer"], "mode": "incremental",
            "destination": target, "error_threshold": 5}))
        .await;
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rejected = wharf.rejected(&run).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["key"], "CUST-0099");
    let why = rejected[0]["message"].as_str().unwrap();
    assert!(why.contains(r#"Customer Type cannot be "Alien""#), "{why}");
    {
        let o = other_state.lock().unwrap();
        assert_eq!(o.of("Customer").len(), 8);
        let three = o.doc("Customer", "CUST-0003").unwrap();
        assert_eq!(three["customer_name"], "Customer Three Ltd");
        assert_ne!(
            three["modified"],
            state.lock().unwrap().doc("Customer", "CUST-0003").unwrap()["modified"],
            "the target site stamps its own `modified`"
        );
        assert!(
            o.seen.iter().any(|r| r.method == "PUT" && r.status == 404),
            "PUT first, then insert"
        );
    }
    state
        .lock()
        .unwrap()
        .edit("Customer", "CUST-0001", "territory", json!("Europe"));
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        other_state
            .lock()
            .unwrap()
            .doc("Customer", "CUST-0001")
            .unwrap()["territory"],
        "Europe",
        "an existing document is updated in place"
    );

    // Frappe webhooks: verified and stored; forged or tampered refused.
    let hook = wharf.webhook(&erp).await;
    let body = json!({"doctype": "Customer", "name": "CUST-0010", "customer_name": "Hooked",
        "modified": "2024-06-02 09:00:00"})
    .to_string();
    let sign = |b: &str| vec![("x-frappe-webhook-signature", signature(b.as_bytes()))];
    let a = wharf.deliver(&hook, &sign(&body), body.as_bytes()).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.json);
    let stored = wharf.records(&sync, "Customer").await;
    assert!(
        stored
            .iter()
            .any(|r| r["key"] == "CUST-0010" && r["data"]["customer_name"] == "Hooked")
    );
    let forged = vec![(
        "x-frappe-webhook-signature",
        "bm90IHRoZSBzaWduYXR1cmU=".to_string(),
    )];
    let a = wharf.deliver(&hook, &forged, body.as_bytes()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let tampered = body.replace("Hooked", "Evil");
    let a = wharf
        .deliver(&hook, &sign(&body), tampered.as_bytes())
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = wharf.deliver(&hook, &[], body.as_bytes()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "unsigned");
    // The DocType from the URL, and `on_trash` as a delete.
    let todo = json!({"name": "a1b2c3d4e5", "status": "Closed", "modified": "2024-06-02 10:00:00"})
        .to_string();
    let a = wharf
        .deliver(
            &format!("{hook}?doctype=ToDo"),
            &sign(&todo),
            todo.as_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.json);
    let todos = wharf.records(&sync, "ToDo").await;
    assert!(
        todos
            .iter()
            .any(|r| r["key"] == "a1b2c3d4e5" && r["data"]["status"] == "Closed")
    );
    let trash = json!({"doctype": "Customer", "name": "CUST-0010"}).to_string();
    let a = wharf
        .deliver(
            &format!("{hook}?event=on_trash"),
            &sign(&trash),
            trash.as_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.json);
    let stored = wharf.records(&sync, "Customer").await;
    assert!(stored.iter().all(|r| r["key"] != "CUST-0010"));

    // A DocType the site does not have: a config error naming it.
    let missing = wharf
        .sync(
            json!({"name": "erp-missing", "source": all, "streams": ["Nope"], "mode": "full",
            "destination": "records"}),
        )
        .await;
    let run = wharf.run(&missing).await;
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].to_string();
    assert!(error.contains("DocType Nope not found"), "{error}");
}
