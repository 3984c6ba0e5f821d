//! The `salesforce` connector through `wharf serve` against a fake org:
//! connected by the OAuth 2.0 web-server flow (PKCE, the token's
//! `instance_url` as the API's origin), objects discovered with their
//! fields' schema, a full sync by SOQL (`nextRecordsUrl` pages) and Bulk API
//! 2.0 (a job polled while pending, CSV sets by `Sforce-Locator`) while
//! sessions end mid-run and are renewed, an incremental sync by
//! `SystemModstamp` with a deleted record arriving as a delete, accounts
//! upserted into a second org by an external id with Salesforce's refusal
//! as a rejection naming the field, and a spent daily API allocation as a
//! rate limit. The fake also verifies JWT bearer assertions as signed by the
//! host's signer for `salesforce-jwt`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::Wharf;
use super::fakes::salesforce::{self, CLIENT_ID, CLIENT_SECRET, RSA_KEY_PEM, Salesforce, USERNAME};
use crate::support::Upstream;

const OBJECTS: [&str; 6] = ["Account", "Contact", "Lead", "Opportunity", "Case", "User"];
/// The account fields the copy writes into the second org.
const WRITTEN: [&str; 10] = [
    "Name",
    "Type",
    "Industry",
    "Rating",
    "AnnualRevenue",
    "NumberOfEmployees",
    "Phone",
    "Website",
    "BillingCity",
    "BillingCountry",
];

/// OAuth2 at the fake's login endpoints; the API wherever the token's
/// `instance_url` says; Contact read through Bulk API 2.0, seven records a
/// result set.
fn config(org: &Upstream, extra: Value) -> Value {
    let mut c = json!({"login_url": org.origin(), "objects": OBJECTS, "bulk_objects": ["Contact"],
        "page_size": 200, "bulk_page_size": 7, "bulk_poll_secs": 1});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

/// A connection approved through the web-server flow, then checked.
async fn connected(wharf: &Wharf, connector: &str, name: &str, config: Value) -> String {
    let secrets = json!({"oauth_client_id": CLIENT_ID, "oauth_client_secret": CLIENT_SECRET});
    let conn = wharf.connection(name, connector, config, secrets).await;
    // Until someone approves the app, the host says so before the
    // connector runs.
    let a = wharf.check(&conn).await;
    assert_eq!(
        a.status,
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        a.json
    );
    assert!(a.text.contains("not authorized yet"), "{}", a.text);
    wharf.connect_oauth(&conn).await;
    let a = wharf.check(&conn).await;
    assert_eq!(a.json["ok"], true, "{:?}", a.json);
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_soql_and_bulk_incremental_with_deletes_and_upserts_into_another_org() {
    let (org, fake) = salesforce::start(Salesforce::demo()).await;
    {
        let mut f = fake.lock().unwrap();
        // Pages of four records, sessions good for 15 calls: a run pages
        // and outlives its session.
        f.batch = 4;
        f.token_uses = Some(15);
    }
    let wharf = Wharf::start().await;
    let connector = wharf.upload("salesforce").await;
    let conn = connected(&wharf, &connector, "sf-source", config(&org, json!({}))).await;
    let mut answers = vec![wharf.check(&conn).await.text];

    let streams = wharf.discover(&conn).await;
    let mut names: Vec<&str> = streams
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut want = OBJECTS.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    let account = streams.iter().find(|s| s["name"] == "Account").unwrap();
    assert_eq!(account["key_field"], "Id");
    assert_eq!(account["cursor_field"], "SystemModstamp");
    let props = &account["schema"]["properties"];
    assert_eq!(props["AnnualRevenue"]["type"], json!(["number", "null"]));
    assert_eq!(
        props["NumberOfEmployees"]["type"],
        json!(["integer", "null"])
    );
    assert_eq!(props["IsDeleted"]["type"], json!(["boolean", "null"]));
    assert_eq!(props["Id"]["type"], "string");
    assert!(
        props.get("BillingAddress").is_none(),
        "compound fields are not read"
    );

    // In full: REST pages for most objects, a Bulk job for Contact.
    let sync = wharf
        .sync(json!({"name": "sf-crm", "source": conn, "streams": OBJECTS, "mode": "incremental", "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let mut runs = vec![run["id"].as_str().unwrap().to_string()];
    let expected: Vec<(&str, usize)> = {
        let f = fake.lock().unwrap();
        OBJECTS.iter().map(|o| (*o, f.live(o).len())).collect()
    };
    for (object, n) in expected {
        assert_eq!(wharf.records_all(&sync, object).await, n, "{object}");
    }
    let accounts = wharf.records(&sync, "Account").await;
    let edge = accounts
        .iter()
        .find(|r| r["data"]["Name"] == "Edge Communications")
        .unwrap();
    assert!(edge["data"].get("attributes").is_none(), "{edge}");
    assert_eq!(edge["data"]["AnnualRevenue"], 139_000_000);
    let stamp = edge["data"]["SystemModstamp"].as_str().unwrap();
    assert!(stamp.ends_with(".000Z"), "RFC 3339, not +0000: {stamp}");
    let contacts = wharf.records(&sync, "Contact").await;
    let contact = |last: &str| {
        contacts
            .iter()
            .find(|r| r["data"]["LastName"] == last)
            .map(|r| r["data"].clone())
            .unwrap()
    };
    // Bulk CSV rows typed as /query would give them.
    let davis = contact("Davis");
    assert_eq!(davis["Title"], "Director, \"Warehouse\" Mgmt\nPortland");
    assert_eq!(davis["DoNotCall"], false);
    assert_eq!(contact("Levy")["DoNotCall"], true);
    assert_eq!(davis["Birthdate"], Value::Null);
    let express = fake
        .lock()
        .unwrap()
        .id_of("Account", "Name", "Express Logistics and Transport");
    assert_eq!(davis["AccountId"], json!(express));
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        assert!(f.refreshes >= 1, "sessions ended mid-run and were renewed");
        let api: Vec<_> = f
            .seen
            .iter()
            .filter(|s| s.uri.starts_with("/services/data/v"))
            .collect();
        assert!(api.iter().any(|s| s.status == 401));
        assert!(
            api.iter().all(|s| s.status == 200 || s.status == 401),
            "{:?}",
            api.iter().find(|s| s.status != 200 && s.status != 401)
        );
        assert!(api.iter().any(|s| s.uri.contains("/query/01g")), "paged");
        let first = f
            .soql
            .iter()
            .find(|(k, q)| k == "query" && q.contains("FROM Account"))
            .unwrap();
        assert!(first.1.starts_with("SELECT Id, "), "{}", first.1);
        assert!(
            first
                .1
                .ends_with("FROM Account ORDER BY SystemModstamp ASC"),
            "a first pass reads everything, oldest change first: {}",
            first.1
        );
        let bulk = f.soql.iter().find(|(k, _)| k == "bulk").unwrap();
        assert!(
            bulk.1.ends_with("FROM Contact"),
            "no ORDER BY for a job: {}",
            bulk.1
        );
        let sets = api
            .iter()
            .filter(|s| s.uri.contains("/results?") && s.status == 200)
            .count();
        assert_eq!(sets, 3, "19 contacts, 7 a set");
        assert!(api.iter().any(|s| s.uri.contains("locator=")));
    }

    // Later: one account changed, a contact added, an opportunity deleted.
    let (edge_id, added, removed) = {
        let mut f = fake.lock().unwrap();
        f.soql.clear();
        let edge = f.id_of("Account", "Name", "Edge Communications");
        f.touch("Account", &edge, "Phone", json!("(512) 757-9000"));
        let added = f.add(
            "Contact",
            json!({"FirstName": "Ada", "LastName": "Lovelace", "AccountId": edge, "Email": "ada@edge.com", "DoNotCall": false}),
        );
        let removed = f.id_of("Opportunity", "Name", "Edge Installation");
        f.delete("Opportunity", &removed);
        (edge, added, removed)
    };
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run["id"].as_str().unwrap().to_string());
    let counters = &run["counters"];
    assert_eq!(
        (
            counters["created"].as_i64(),
            counters["updated"].as_i64(),
            counters["deleted"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{run}"
    );
    let accounts = wharf.records(&sync, "Account").await;
    let edge = accounts
        .iter()
        .find(|r| r["key"] == json!(edge_id))
        .unwrap();
    assert_eq!(edge["data"]["Phone"], "(512) 757-9000");
    let contacts = wharf.records(&sync, "Contact").await;
    assert!(contacts.iter().any(|r| r["key"] == json!(added)));
    let opportunities = wharf.records(&sync, "Opportunity").await;
    assert!(opportunities.iter().all(|r| r["key"] != json!(removed)));
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.violations, Vec::<String>::new());
        let account = f
            .soql
            .iter()
            .find(|(_, q)| q.contains("FROM Account"))
            .unwrap();
        assert_eq!(account.0, "queryAll", "deletes are read too");
        assert!(
            account
                .1
                .contains("FROM Account WHERE SystemModstamp > 2024-03-")
                && account.1.ends_with("ORDER BY SystemModstamp ASC"),
            "{}",
            account.1
        );
        let user = f
            .soql
            .iter()
            .find(|(_, q)| q.contains("FROM User"))
            .unwrap();
        assert_eq!(user.0, "query", "User has no recycle bin");
        let bulk = f.soql.iter().find(|(k, _)| k == "bulk").unwrap();
        assert!(
            bulk.1.contains("FROM Contact WHERE SystemModstamp > "),
            "{}",
            bulk.1
        );
    }

    // Into a second org, upserted by Legacy_Id__c; its Rating picklist is
    // restricted, so one account is refused there, in Salesforce's words.
    let lukewarm = {
        let mut f = fake.lock().unwrap();
        let id = f.id_of("Account", "Name", "GenePoint");
        f.touch("Account", &id, "Rating", json!("Lukewarm"));
        id
    };
    let (target, target_fake) = salesforce::start(Salesforce::empty()).await;
    target_fake
        .lock()
        .unwrap()
        .restrict("Account", "Rating", &["Hot", "Warm", "Cold"]);
    let extra =
        json!({"external_ids": {"Account": "Legacy_Id__c"}, "fields": {"Account": WRITTEN}});
    let dest = connected(&wharf, &connector, "sf-target", config(&target, extra)).await;
    answers.push(wharf.check(&dest).await.text);
    let copy = wharf
        .sync(
            json!({"name": "sf-copy", "source": conn, "streams": ["Account"], "mode": "full",
            "destination": dest, "error_threshold": 5}),
        )
        .await;
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run["id"].as_str().unwrap().to_string());
    assert_eq!(run["counters"]["created"], 11, "{run}");
    let rejected = wharf.rejected(&run).await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["key"], json!(lukewarm));
    assert_eq!(rejected[0]["field"], "Rating");
    let why = rejected[0]["message"].as_str().unwrap();
    assert!(
        why.contains(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Rating: bad value for restricted picklist field: Lukewarm"
        ),
        "{why}"
    );
    {
        let source = fake.lock().unwrap();
        let t = target_fake.lock().unwrap();
        assert_eq!(t.violations, Vec::<String>::new());
        let copied = t.live("Account");
        assert_eq!(copied.len(), 11);
        for row in copied {
            let from = row["Legacy_Id__c"].as_str().unwrap();
            let original = source
                .live("Account")
                .into_iter()
                .find(|r| r["Id"] == from)
                .unwrap();
            assert_eq!(row["Name"], original["Name"]);
            assert_eq!(row["AnnualRevenue"], original["AnnualRevenue"]);
            assert_ne!(row["Id"], original["Id"], "the second org's own id");
        }
        let created = t.writes.iter().filter(|w| w.2 == 201).count();
        assert_eq!(created, 11, "{:?}", t.writes);
        let writes = t.seen.iter().filter(|s| s.uri.contains("/Legacy_Id__c/"));
        assert!(writes.clone().count() == 12 && writes.clone().all(|s| s.method == "PATCH"));
    }
    // A change in the first org updates the copy; nothing is doubled.
    fake.lock().unwrap().touch(
        "Account",
        &edge_id,
        "Website",
        json!("https://edgecomm.example"),
    );
    let run = wharf.run(&copy).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    runs.push(run["id"].as_str().unwrap().to_string());
    assert_eq!(
        (
            run["counters"]["created"].as_i64(),
            run["counters"]["updated"].as_i64()
        ),
        (Some(0), Some(11)),
        "{run}"
    );
    {
        let t = target_fake.lock().unwrap();
        assert_eq!(t.live("Account").len(), 11);
        let id = t.id_of("Account", "Legacy_Id__c", &edge_id);
        let row = t.live("Account").into_iter().find(|r| r["Id"] == json!(id));
        assert_eq!(row.unwrap()["Website"], "https://edgecomm.example");
    }

    // No token or secret in any record, log or check answer.
    let mut everything = answers.join("");
    for id in &runs {
        everything.push_str(&wharf.get(&format!("/api/v1/runs/{id}/logs")).await.text);
    }
    for object in OBJECTS {
        let records = wharf.records(&sync, object).await;
        everything.push_str(&serde_json::to_string(&records).unwrap());
    }
    let mut issued = fake.lock().unwrap().issued.clone();
    issued.extend(target_fake.lock().unwrap().issued.clone());
    assert!(issued.len() >= 4);
    for token in &issued {
        assert!(!everything.contains(token.as_str()), "a token leaked");
    }
    assert!(!everything.contains(CLIENT_SECRET));

    // The org's daily API allocation is spent: a rate limit, not a failure
    // of the connection.
    {
        let mut f = fake.lock().unwrap();
        f.api_used = f.api_limit;
    }
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "rate_limited", "{run}");
}

/// What `salesforce-jwt` declares (`guests/salesforce/src/auth.rs`,
/// `JWT_CLAIMS`): the host fills the config in and signs with RS256.
const CLAIMS: &str = r#"{"iss":"{config.client_id}","sub":"{config.username}","aud":"{config.audience}","exp":{exp}}"#;

/// The JWT bearer grant at the fake's token endpoint; status and body.
async fn jwt_grant(org: &Upstream, assertion: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion),
    ];
    let response = reqwest::Client::new()
        .post(org.url("/services/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The assertion the host would sign for `config`, expiring at `exp`.
fn assertion(config: &Value, exp: i64) -> String {
    let claims = wharf::runtime::signing::fill_config(CLAIMS, config).unwrap();
    let now = wharf::store::now_ms() / 1000;
    let rs256 = wharf::model::spec::JwtAlgorithm::Rs256;
    wharf::runtime::signing::mint_jwt(RSA_KEY_PEM, rs256, &claims, None, now, exp).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_jwt_bearer_assertions_from_the_host_signer_are_verified() {
    let (org, fake) = salesforce::start(Salesforce::demo()).await;
    let now = wharf::store::now_ms() / 1000;
    let config = json!({"client_id": CLIENT_ID, "username": USERNAME,
        "audience": "https://login.salesforce.com"});

    let (status, body) = jwt_grant(&org, &assertion(&config, now + 120)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["instance_url"], json!(org.origin()));
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(fake.lock().unwrap().jwt_grants, 1);

    // The same signature over other claims.
    let signed = assertion(&config, now + 120);
    let parts: Vec<&str> = signed.split('.').collect();
    let other = json!({"iss": CLIENT_ID, "sub": "ceo@wharf-demo.example",
        "aud": "https://login.salesforce.com", "exp": now + 120});
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(other.to_string()),
        parts[2]
    );
    let (status, body) = jwt_grant(&org, &forged).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    assert_eq!(body["error_description"], "invalid assertion");

    let expired = assertion(&config, now - 10);
    let (_, body) = jwt_grant(&org, &expired).await;
    assert_eq!(body["error"], "invalid_grant", "{body}");

    let mut elsewhere = config.clone();
    elsewhere["audience"] = json!("https://login.example.com");
    let (_, body) = jwt_grant(&org, &assertion(&elsewhere, now + 120)).await;
    assert_eq!(body["error_description"], "audience is invalid");

    let mut stranger = config.clone();
    stranger["username"] = json!("stranger@wharf-demo.example");
    let (_, body) = jwt_grant(&org, &assertion(&stranger, now + 120)).await;
    assert_eq!(
        body["error_description"],
        "user hasn't approved this consumer"
    );
    assert_eq!(fake.lock().unwrap().jwt_grants, 1);

    // Through the host: the `salesforce-jwt` build signs in with the key
    // alone (nobody approves anything in a browser) and reads the org.
    let wharf = Wharf::start().await;
    let connector = wharf.upload("salesforce-jwt").await;
    let mut through = config.clone();
    through["login_url"] = json!(org.origin());
    through["base_url"] = json!(org.origin());
    through["objects"] = json!(["Account"]);
    let conn = wharf
        .connection(
            "sf-jwt",
            &connector,
            through,
            json!({"private_key": RSA_KEY_PEM}),
        )
        .await;
    let check = wharf.check(&conn).await;
    assert_eq!(check.json["ok"], true, "{:?}", check.json);
    assert_eq!(
        fake.lock().unwrap().jwt_grants,
        2,
        "the host's assertion was taken"
    );
    let sync = wharf
        .sync(json!({"name": "sf-jwt-accounts", "source": conn, "streams": ["Account"], "destination": "records"}))
        .await;
    let run = wharf.run(&sync).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let accounts = fake.lock().unwrap().live("Account").len();
    assert_eq!(wharf.records_all(&sync, "Account").await, accounts);
    assert!(!check.text.contains("PRIVATE KEY"));
}
